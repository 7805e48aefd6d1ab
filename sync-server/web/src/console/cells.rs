//! Text for spreadsheet cells, safe against formula injection.
//!
//! Residents write free text at the kiosk and on the anonymous mobile page
//! (`/m/request`), and staff open the exports in Excel or WPS. A cell whose
//! text begins with `=`, `+`, `-` or `@` (or a tab or carriage return, which
//! spreadsheets skip before looking for one) would be read as a formula —
//! `=HYPERLINK(…)` or a DDE call — when the CSV is opened or the XLSX cell
//! is edited. Following OWASP's advice on CSV injection, every text cell
//! the console exports (CSV and XLSX alike) goes through [`text`], which
//! puts a single quote `'` before such text; the spreadsheet then shows it
//! as text. Numbers are written as numbers and never pass through here; a
//! text that is itself a plain number (`-5`, `+86`, `-0.5`) is left alone,
//! since a spreadsheet reads it as that number and nothing else.

use std::borrow::Cow;

/// The characters that make a spreadsheet read a cell as a formula.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `s` as a text cell that no spreadsheet evaluates: prefixed with `'`
/// when it begins like a formula (see the module docs).
pub fn text<'a>(s: impl Into<Cow<'a, str>>) -> Cow<'a, str> {
    let s = s.into();
    if s.starts_with(FORMULA_START) && !plain_number(&s) {
        Cow::Owned(format!("'{s}"))
    } else {
        s
    }
}

/// `-5`, `+86`, `-0.5`: a sign, digits and at most one decimal point.
fn plain_number(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_quoted_and_everything_else_is_kept() {
        for (raw, cell) in [
            ("=1+1", "'=1+1"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("-", "'-"),
            ("-.5", "'-.5"),
            ("楼道灯坏了 =1", "楼道灯坏了 =1"),
            ("138****5678", "138****5678"),
            ("2026-11-23 14:30", "2026-11-23 14:30"),
            ("", ""),
            ("-5", "-5"),
            ("+86", "+86"),
            ("-0.5", "-0.5"),
        ] {
            assert_eq!(text(raw), cell, "{raw:?}");
            assert_eq!(text(raw.to_string()), cell, "{raw:?} owned");
        }
        assert!(
            matches!(text("楼道"), Cow::Borrowed(_)),
            "no copy when safe"
        );
    }
}
