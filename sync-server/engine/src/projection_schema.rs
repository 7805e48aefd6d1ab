//! The projection's tables as SQL: their append-only migrations, and the
//! refusal of a database whose residents are still in the form used
//! before Linli 0.2. Kept apart from `projection` (which fills the tables)
//! so opening the server's store needs only the schema.

use crate::{Error, Result};

/// Projection tables (append-only migrations).
pub const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE projection_state (
        doc_id TEXT PRIMARY KEY NOT NULL,
        kind TEXT,
        period TEXT,
        heads TEXT NOT NULL,
        projected_ms INTEGER NOT NULL
    );
    CREATE TABLE checkins (
        record_id TEXT PRIMARY KEY NOT NULL,
        doc_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        date TEXT NOT NULL,
        activity_id TEXT NOT NULL,
        phone_hash TEXT,
        phone_masked TEXT,
        name TEXT,
        headcount INTEGER NOT NULL,
        companions INTEGER NOT NULL,
        kiosk_at_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL,
        clock_skew INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX checkins_hall_date ON checkins (hall_id, date);
    CREATE TABLE ratings (
        record_id TEXT PRIMARY KEY NOT NULL,
        doc_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        date TEXT NOT NULL,
        activity_id TEXT NOT NULL,
        score INTEGER NOT NULL,
        reason TEXT,
        kiosk_at_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL
    );
    CREATE INDEX ratings_hall_date ON ratings (hall_id, date);
    CREATE TABLE shift_events (
        record_id TEXT PRIMARY KEY NOT NULL,
        doc_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        date TEXT NOT NULL,
        shift_id TEXT NOT NULL,
        action TEXT NOT NULL,
        phone_hash TEXT NOT NULL,
        phone_masked TEXT NOT NULL,
        name TEXT,
        activity_id TEXT,
        kiosk_at_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL
    );
    CREATE INDEX shift_events_shift ON shift_events (shift_id);
    CREATE TABLE requests (
        record_id TEXT PRIMARY KEY NOT NULL,
        doc_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        month TEXT NOT NULL,
        reference TEXT NOT NULL,
        category TEXT NOT NULL,
        text TEXT NOT NULL,
        phone_hash TEXT,
        phone_masked TEXT,
        name TEXT,
        callback_consent INTEGER NOT NULL,
        status TEXT NOT NULL,
        reply TEXT,
        updated_ms INTEGER,
        kiosk_at_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL
    );
    CREATE INDEX requests_hall ON requests (hall_id, status);
    CREATE TABLE quarantine (
        doc_id TEXT NOT NULL,
        record_key TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT,
        reason TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (doc_id, record_key)
    );
",
    "
    -- v2: what each kiosk delivered recently (the console's kiosks page).
    CREATE INDEX checkins_kiosk_received ON checkins (kiosk_id, received_ms);
    CREATE INDEX ratings_kiosk_received ON ratings (kiosk_id, received_ms);
    CREATE INDEX shift_events_kiosk_received ON shift_events (kiosk_id, received_ms);
    CREATE INDEX requests_kiosk_received ON requests (kiosk_id, received_ms);
    CREATE INDEX quarantine_kiosk ON quarantine (kiosk_id, at_ms);
",
    "
    -- v3: daily roll-ups, so statistics over a year read a row per hall,
    -- day and activity instead of every check-in and rating. Triggers keep
    -- them exact whoever writes the tables (projection, rebuild, a seed).
    -- No conflict clause inside a trigger: an outer upsert (the projector's
    -- INSERT … ON CONFLICT DO UPDATE) overrides it, and OR IGNORE failed.
    CREATE TABLE checkin_days (
        hall_id TEXT NOT NULL,
        date TEXT NOT NULL,
        activity_id TEXT NOT NULL,
        persons INTEGER NOT NULL DEFAULT 0,
        named INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (hall_id, date, activity_id)
    ) WITHOUT ROWID;
    CREATE TRIGGER checkin_days_insert AFTER INSERT ON checkins BEGIN
        INSERT INTO checkin_days (hall_id, date, activity_id)
            SELECT NEW.hall_id, NEW.date, NEW.activity_id WHERE NOT EXISTS (SELECT 1 FROM checkin_days
                WHERE hall_id = NEW.hall_id AND date = NEW.date AND activity_id = NEW.activity_id);
        UPDATE checkin_days SET persons = persons + NEW.headcount + NEW.companions,
                named = named + (NEW.phone_hash IS NOT NULL)
            WHERE hall_id = NEW.hall_id AND date = NEW.date AND activity_id = NEW.activity_id;
    END;
    CREATE TRIGGER checkin_days_delete AFTER DELETE ON checkins BEGIN
        UPDATE checkin_days SET persons = persons - OLD.headcount - OLD.companions,
                named = named - (OLD.phone_hash IS NOT NULL)
            WHERE hall_id = OLD.hall_id AND date = OLD.date AND activity_id = OLD.activity_id;
    END;
    CREATE TRIGGER checkin_days_update
        AFTER UPDATE OF hall_id, date, activity_id, headcount, companions, phone_hash ON checkins BEGIN
        UPDATE checkin_days SET persons = persons - OLD.headcount - OLD.companions,
                named = named - (OLD.phone_hash IS NOT NULL)
            WHERE hall_id = OLD.hall_id AND date = OLD.date AND activity_id = OLD.activity_id;
        INSERT INTO checkin_days (hall_id, date, activity_id)
            SELECT NEW.hall_id, NEW.date, NEW.activity_id WHERE NOT EXISTS (SELECT 1 FROM checkin_days
                WHERE hall_id = NEW.hall_id AND date = NEW.date AND activity_id = NEW.activity_id);
        UPDATE checkin_days SET persons = persons + NEW.headcount + NEW.companions,
                named = named + (NEW.phone_hash IS NOT NULL)
            WHERE hall_id = NEW.hall_id AND date = NEW.date AND activity_id = NEW.activity_id;
    END;
    INSERT INTO checkin_days (hall_id, date, activity_id, persons, named)
        SELECT hall_id, date, activity_id, SUM(headcount + companions), count(phone_hash)
        FROM checkins GROUP BY 1, 2, 3;

    CREATE TABLE rating_days (
        hall_id TEXT NOT NULL,
        date TEXT NOT NULL,
        activity_id TEXT NOT NULL,
        ratings INTEGER NOT NULL DEFAULT 0,
        score_sum INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (hall_id, date, activity_id)
    ) WITHOUT ROWID;
    CREATE TRIGGER rating_days_insert AFTER INSERT ON ratings BEGIN
        INSERT INTO rating_days (hall_id, date, activity_id)
            SELECT NEW.hall_id, NEW.date, NEW.activity_id WHERE NOT EXISTS (SELECT 1 FROM rating_days
                WHERE hall_id = NEW.hall_id AND date = NEW.date AND activity_id = NEW.activity_id);
        UPDATE rating_days SET ratings = ratings + 1, score_sum = score_sum + NEW.score
            WHERE hall_id = NEW.hall_id AND date = NEW.date AND activity_id = NEW.activity_id;
    END;
    CREATE TRIGGER rating_days_delete AFTER DELETE ON ratings BEGIN
        UPDATE rating_days SET ratings = ratings - 1, score_sum = score_sum - OLD.score
            WHERE hall_id = OLD.hall_id AND date = OLD.date AND activity_id = OLD.activity_id;
    END;
    CREATE TRIGGER rating_days_update
        AFTER UPDATE OF hall_id, date, activity_id, score ON ratings BEGIN
        UPDATE rating_days SET ratings = ratings - 1, score_sum = score_sum - OLD.score
            WHERE hall_id = OLD.hall_id AND date = OLD.date AND activity_id = OLD.activity_id;
        INSERT INTO rating_days (hall_id, date, activity_id)
            SELECT NEW.hall_id, NEW.date, NEW.activity_id WHERE NOT EXISTS (SELECT 1 FROM rating_days
                WHERE hall_id = NEW.hall_id AND date = NEW.date AND activity_id = NEW.activity_id);
        UPDATE rating_days SET ratings = ratings + 1, score_sum = score_sum + NEW.score
            WHERE hall_id = NEW.hall_id AND date = NEW.date AND activity_id = NEW.activity_id;
    END;
    INSERT INTO rating_days (hall_id, date, activity_id, ratings, score_sum)
        SELECT hall_id, date, activity_id, count(*), SUM(score) FROM ratings GROUP BY 1, 2, 3;

    -- Distinct residents over a range: one index seek per resident of the
    -- hall, not a scan of its check-ins.
    CREATE TABLE hall_residents (
        hall_id TEXT NOT NULL,
        phone_hash TEXT NOT NULL,
        PRIMARY KEY (hall_id, phone_hash)
    ) WITHOUT ROWID;
    CREATE TRIGGER hall_residents_insert AFTER INSERT ON checkins
        WHEN NEW.phone_hash IS NOT NULL BEGIN
        INSERT INTO hall_residents SELECT NEW.hall_id, NEW.phone_hash WHERE NOT EXISTS (
            SELECT 1 FROM hall_residents WHERE hall_id = NEW.hall_id AND phone_hash = NEW.phone_hash);
    END;
    CREATE TRIGGER hall_residents_update AFTER UPDATE OF hall_id, phone_hash ON checkins
        WHEN NEW.phone_hash IS NOT NULL BEGIN
        INSERT INTO hall_residents SELECT NEW.hall_id, NEW.phone_hash WHERE NOT EXISTS (
            SELECT 1 FROM hall_residents WHERE hall_id = NEW.hall_id AND phone_hash = NEW.phone_hash);
    END;
    INSERT OR IGNORE INTO hall_residents
        SELECT hall_id, phone_hash FROM checkins WHERE phone_hash IS NOT NULL;
    CREATE INDEX checkins_hall_phone_date ON checkins (hall_id, phone_hash, date);
    CREATE INDEX requests_hall_at ON requests (hall_id, kiosk_at_ms);
",
    "
    -- v4 (issue 12): residents are pseudonyms (column phone_hash) with a
    -- contact sealed to the server's key (sealed); the masked number and the
    -- name in the clear go, since with the old keyed hash beside them a
    -- copied database gave numbers back. A database that still holds rows of
    -- the old scheme is refused before this runs (refuse_old_residents).
    ALTER TABLE checkins ADD COLUMN sealed TEXT;
    ALTER TABLE checkins DROP COLUMN phone_masked;
    ALTER TABLE checkins DROP COLUMN name;
    ALTER TABLE shift_events ADD COLUMN sealed TEXT;
    ALTER TABLE shift_events DROP COLUMN phone_masked;
    ALTER TABLE shift_events DROP COLUMN name;
    ALTER TABLE requests ADD COLUMN sealed TEXT;
    ALTER TABLE requests DROP COLUMN phone_masked;
    ALTER TABLE requests DROP COLUMN name;
",
    "
    -- v5 (issue 12): what staff decide about a request (status, reply) is the
    -- server's own record, every answer kept. The projection takes a
    -- request's status from here, never from the kiosk's request book (which
    -- the kiosk may write), so a kiosk cannot move the resolution rate.
    -- Answers given before this change are carried over.
    CREATE TABLE request_answers (
        record_id TEXT NOT NULL,
        status TEXT NOT NULL,
        reply TEXT,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (record_id, updated_ms)
    );
    INSERT INTO request_answers (record_id, status, reply, updated_ms)
        SELECT record_id, status, reply, COALESCE(updated_ms, 0) FROM requests
        WHERE status <> 'received' OR reply IS NOT NULL;
",
    "
    -- v6 (issue 12, erasure): a resident's records found by pseudonym
    -- without a scan, in every hall at once (erasing them).
    CREATE INDEX checkins_phone ON checkins (phone_hash);
    CREATE INDEX shift_events_phone ON shift_events (phone_hash);
    CREATE INDEX requests_phone ON requests (phone_hash);
",
    "
    -- v7 (issue 13): walk-in visits name a service of the hall instead of
    -- an activity (activity_id is empty). The daily roll-up keeps them
    -- apart by service under the key 'walk-in:' || service, so statistics
    -- by service read roll-ups too.
    ALTER TABLE checkins ADD COLUMN service TEXT;
    DROP TRIGGER checkin_days_insert;
    DROP TRIGGER checkin_days_delete;
    DROP TRIGGER checkin_days_update;
    CREATE TRIGGER checkin_days_insert AFTER INSERT ON checkins BEGIN
        INSERT INTO checkin_days (hall_id, date, activity_id)
            SELECT NEW.hall_id, NEW.date, COALESCE('walk-in:' || NEW.service, NEW.activity_id)
            WHERE NOT EXISTS (SELECT 1 FROM checkin_days WHERE hall_id = NEW.hall_id AND date = NEW.date
                AND activity_id = COALESCE('walk-in:' || NEW.service, NEW.activity_id));
        UPDATE checkin_days SET persons = persons + NEW.headcount + NEW.companions,
                named = named + (NEW.phone_hash IS NOT NULL)
            WHERE hall_id = NEW.hall_id AND date = NEW.date
                AND activity_id = COALESCE('walk-in:' || NEW.service, NEW.activity_id);
    END;
    CREATE TRIGGER checkin_days_delete AFTER DELETE ON checkins BEGIN
        UPDATE checkin_days SET persons = persons - OLD.headcount - OLD.companions,
                named = named - (OLD.phone_hash IS NOT NULL)
            WHERE hall_id = OLD.hall_id AND date = OLD.date
                AND activity_id = COALESCE('walk-in:' || OLD.service, OLD.activity_id);
    END;
    CREATE TRIGGER checkin_days_update
        AFTER UPDATE OF hall_id, date, activity_id, service, headcount, companions, phone_hash ON checkins BEGIN
        UPDATE checkin_days SET persons = persons - OLD.headcount - OLD.companions,
                named = named - (OLD.phone_hash IS NOT NULL)
            WHERE hall_id = OLD.hall_id AND date = OLD.date
                AND activity_id = COALESCE('walk-in:' || OLD.service, OLD.activity_id);
        INSERT INTO checkin_days (hall_id, date, activity_id)
            SELECT NEW.hall_id, NEW.date, COALESCE('walk-in:' || NEW.service, NEW.activity_id)
            WHERE NOT EXISTS (SELECT 1 FROM checkin_days WHERE hall_id = NEW.hall_id AND date = NEW.date
                AND activity_id = COALESCE('walk-in:' || NEW.service, NEW.activity_id));
        UPDATE checkin_days SET persons = persons + NEW.headcount + NEW.companions,
                named = named + (NEW.phone_hash IS NOT NULL)
            WHERE hall_id = NEW.hall_id AND date = NEW.date
                AND activity_id = COALESCE('walk-in:' || NEW.service, NEW.activity_id);
    END;
",
    "
    -- v8 (issue 14): each new check-in or rating adds to its day's roll-up
    -- in one upsert, where the triggers above looked the row up, inserted
    -- it when missing and then updated it: a kiosk reconnecting with a
    -- day's records pays for a third of the statements. Same sums.
    DROP TRIGGER checkin_days_insert;
    DROP TRIGGER checkin_days_update;
    DROP TRIGGER rating_days_insert;
    DROP TRIGGER rating_days_update;
    CREATE TRIGGER checkin_days_insert AFTER INSERT ON checkins BEGIN
        INSERT INTO checkin_days (hall_id, date, activity_id, persons, named)
            VALUES (NEW.hall_id, NEW.date, COALESCE('walk-in:' || NEW.service, NEW.activity_id),
                NEW.headcount + NEW.companions, NEW.phone_hash IS NOT NULL)
            ON CONFLICT (hall_id, date, activity_id) DO UPDATE SET
                persons = persons + excluded.persons, named = named + excluded.named;
    END;
    CREATE TRIGGER checkin_days_update
        AFTER UPDATE OF hall_id, date, activity_id, service, headcount, companions, phone_hash ON checkins BEGIN
        UPDATE checkin_days SET persons = persons - OLD.headcount - OLD.companions,
                named = named - (OLD.phone_hash IS NOT NULL)
            WHERE hall_id = OLD.hall_id AND date = OLD.date
                AND activity_id = COALESCE('walk-in:' || OLD.service, OLD.activity_id);
        INSERT INTO checkin_days (hall_id, date, activity_id, persons, named)
            VALUES (NEW.hall_id, NEW.date, COALESCE('walk-in:' || NEW.service, NEW.activity_id),
                NEW.headcount + NEW.companions, NEW.phone_hash IS NOT NULL)
            ON CONFLICT (hall_id, date, activity_id) DO UPDATE SET
                persons = persons + excluded.persons, named = named + excluded.named;
    END;
    CREATE TRIGGER rating_days_insert AFTER INSERT ON ratings BEGIN
        INSERT INTO rating_days (hall_id, date, activity_id, ratings, score_sum)
            VALUES (NEW.hall_id, NEW.date, NEW.activity_id, 1, NEW.score)
            ON CONFLICT (hall_id, date, activity_id) DO UPDATE SET
                ratings = ratings + 1, score_sum = score_sum + excluded.score_sum;
    END;
    CREATE TRIGGER rating_days_update
        AFTER UPDATE OF hall_id, date, activity_id, score ON ratings BEGIN
        UPDATE rating_days SET ratings = ratings - 1, score_sum = score_sum - OLD.score
            WHERE hall_id = OLD.hall_id AND date = OLD.date AND activity_id = OLD.activity_id;
        INSERT INTO rating_days (hall_id, date, activity_id, ratings, score_sum)
            VALUES (NEW.hall_id, NEW.date, NEW.activity_id, 1, NEW.score)
            ON CONFLICT (hall_id, date, activity_id) DO UPDATE SET
                ratings = ratings + 1, score_sum = score_sum + excluded.score_sum;
    END;
",
    "
    -- v9 (issue 16): redemptions at the hall's 爱心超市, one per spend a
    -- kiosk store recorded. A record is written once and never changed.
    CREATE TABLE redemptions (
        record_id TEXT PRIMARY KEY NOT NULL,
        doc_id TEXT NOT NULL,
        hall_id TEXT NOT NULL,
        kiosk_id TEXT NOT NULL,
        spender TEXT NOT NULL,
        item TEXT NOT NULL,
        points INTEGER NOT NULL,
        phone_hash TEXT,
        kiosk_at_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL
    );
    CREATE INDEX redemptions_hall ON redemptions (hall_id, kiosk_at_ms);
    CREATE INDEX redemptions_phone ON redemptions (phone_hash);
    CREATE INDEX redemptions_kiosk_received ON redemptions (kiosk_id, received_ms);
",
    "
    -- v10 (issue 16): of a redemption's points, what the kiosk lent beyond
    -- its rights (赊兑, staff confirming): the console flags it.
    ALTER TABLE redemptions ADD COLUMN owed INTEGER NOT NULL DEFAULT 0;
",
];

/// Refuse a database that holds residents in the scheme before issue 12
/// (a keyed hash with the masked number beside it, names in the clear):
/// mixing them with pseudonyms would count one person as two, and keeping
/// them would keep numbers recoverable. Checked before the projection's
/// migrations run, so nothing is changed.
pub fn refuse_old_residents(
    path: &std::path::Path,
    options: linli_core::sqlite::DbOptions,
) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let c = linli_core::sqlite::open(path, options)?;
    let version: i64 = c
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM linli_migrations WHERE component = 'projection'",
            [],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::SqliteFailure(..) => Ok(0),
            other => Err(other),
        })
        .map_err(|e| Error::db("reading migrations", e))?;
    if version == 0 || version >= 4 {
        return Ok(());
    }
    let old: i64 = c
        .query_row(
            "SELECT (SELECT count(*) FROM checkins WHERE phone_masked IS NOT NULL OR name IS NOT NULL)
                  + (SELECT count(*) FROM shift_events)
                  + (SELECT count(*) FROM requests WHERE phone_masked IS NOT NULL OR name IS NOT NULL)",
            [],
            |r| r.get(0),
        )
        .map_err(|e| Error::db("looking for residents of the old scheme", e))?;
    if old > 0 {
        return Err(Error::Config(format!(
            "{} holds {old} records of residents in the form used before Linli 0.2 (keyed phone \
             hashes with masked numbers), which a copy of it could turn back into numbers; this \
             build does not mix them with pseudonyms. Nothing was changed. To convert it in place, \
             stop the server and run: linli-server upgrade-residents",
            path.display()
        )));
    }
    Ok(())
}
