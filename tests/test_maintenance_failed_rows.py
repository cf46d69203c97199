"""Poison log rows under each sync_error_policy, and graph.retry_failed()."""

import pytest

from conftest import apply, connect, health, retry, verify
from failed_rows import CURE, POISON, poison, poison_function, register


@pytest.fixture
def people(db):
    """A fresh registered table (with a self-referencing edge) per test."""
    with connect(db) as c:
        register(c, "people", "VALUES (1, 'root', NULL)")
    yield db
    with connect(db) as c:
        c.execute(CURE)


def test_stop_policy_holds_the_failing_row_and_everything_after_it(people):
    with connect(people) as c:
        c.execute("SET graph.sync_error_policy = 'stop'")
        c.execute(POISON)
        c.execute("INSERT INTO people VALUES (2, 'before', 1)")
        c.execute("INSERT INTO people VALUES (666, 'poison', 1)")
        c.execute("INSERT INTO people VALUES (3, 'after', 666)")
        result = apply(c)
        assert (result["failed"], result["stopped"]) == (1, "failed_row")
        h = health(c)
        assert h["failed_sync_rows"] == 1 and "node 666 is cursed" in h["last_error"]
        assert h["pending_sync_rows"] == 2  # the failing row and the one after it wait
        assert "retry_failed" in h["next_action"]
        assert apply(c)["stopped"] == "failed_row"  # still waiting, still recorded
        m = c.execute("SELECT status, failed_rows, reason, error FROM graph.run_scheduled_maintenance()").fetchone()
        assert m[0] == "partial" and m[1] == 1 and "apply stopped: failed_row" in m[2]  # never 'succeeded'
        assert "1 log rows failed to apply" in m[3] and "node 666 is cursed" in m[3] and "retry_failed" in m[3]
        assert c.execute("SELECT count(*) FROM graph._sync_log").fetchone()[0] == 3  # nothing lost
        r = retry(c)  # the cause is still there
        assert r["still_failed"] == 1 and r["stopped"] == "failed_row"
        c.execute(CURE)
        r = retry(c)
        assert (r["applied_after"], r["still_failed"], r["stopped"]) == (2, 0, None)
        h = health(c)
        assert h["failed_sync_rows"] == 0 and h["pending_sync_rows"] == 0 and h["last_error"] is None
        assert verify(c) == []


def test_skip_policy_records_and_continues_and_retry_catches_up_out_of_order(people):
    with connect(people) as c:
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute(POISON)
        c.execute("INSERT INTO people VALUES (666, 'poison', 1)")
        c.execute("INSERT INTO people VALUES (4, 'reports to 666', 666)")
        c.execute("UPDATE people SET name = 'renamed poison', boss = NULL WHERE id = 666")
        c.execute("INSERT INTO people VALUES (5, 'after', 4)")
        result = apply(c)
        assert result["failed"] == 2 and result["stopped"] is None
        h = health(c)
        assert h["failed_sync_rows"] == 2 and h["pending_sync_rows"] == 0
        assert "node 666 is cursed" in h["last_error"]
        diffs = {(d[0], d[2]) for d in verify(c)}
        assert ("missing_node", "666") in diffs  # skipped, so the graph lacks it until retried
        # later rows for the same node are applied before the retry
        c.execute("UPDATE people SET name = 'final name' WHERE id = 666")
        c.execute("SET graph.sync_error_policy = 'stop'")
        c.execute(CURE)
        assert apply(c)["failed"] == 0  # the cure lets new rows through
        r = retry(c)
        assert (r["retried"], r["succeeded"], r["still_failed"]) == (2, 2, 0)
        assert health(c)["failed_sync_rows"] == 0
        assert verify(c) == []
        props = c.execute("""SELECT properties->>'name' FROM graph._nodes
                             WHERE table_oid = 'people'::regclass AND pk = '666'""").fetchone()[0]
        assert props == "final name"


def test_a_retried_row_does_not_resurrect_edges_a_later_truncate_cut(people):
    with connect(people) as c:
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute(POISON)
        c.execute("INSERT INTO people VALUES (666, 'poison', 1)")
        apply(c)
        c.execute("TRUNCATE people")
        c.execute("INSERT INTO people VALUES (7, 'after the truncate', NULL)")
        apply(c)
        c.execute(CURE)
        # the TRUNCATE marker would make maintenance rebuild; retry before that
        r = retry(c)
        assert r["succeeded"] == 1 and r["rebuilt"] is False
        assert verify(c) == []


def test_a_rebuild_folds_failed_rows_and_clears_them(people):
    with connect(people) as c:
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute(POISON)
        c.execute("INSERT INTO people VALUES (666, 'poison', 1), (8, 'fine', 666)")
        assert apply(c)["failed"] == 1
        c.execute(CURE)
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        assert c.execute("SELECT status FROM graph.vacuum()").fetchone() == ("succeeded",)
        assert any("reflects 1 failed log row" in n for n in notices)
        assert health(c)["failed_sync_rows"] == 0
        assert retry(c)["retried"] == 0  # nothing left to apply twice
        assert verify(c) == []


def test_a_row_that_fails_again_keeps_its_new_error(people):
    with connect(people) as c:
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute(POISON)
        c.execute("INSERT INTO people VALUES (666, 'poison', 1)")
        apply(c)
        c.execute(poison_function(message="still cursed"))
        r = retry(c)
        assert (r["retried"], r["succeeded"], r["still_failed"]) == (1, 0, 1)
        assert "still cursed" in health(c)["last_error"]
        assert c.execute("SELECT count(*) FROM graph._sync_log WHERE error_message IS NOT NULL").fetchone()[0] == 1
        c.execute(CURE)
        assert retry(c)["succeeded"] == 1
        assert verify(c) == []


UNNOTED = """SELECT count(*) FROM graph._sync_log AS l
             WHERE (l.error_message IS NOT NULL OR l.needs_vacuum)
               AND NOT EXISTS (SELECT FROM graph._sync_log_attention AS a WHERE a.id = l.id)"""


def test_every_row_that_needs_attention_has_its_id_noted(people):
    """The log has no index of its failed rows and TRUNCATE markers (migration 385:
    every captured row paid for one); health, retry and maintenance reach them by the
    ids in graph._sync_log_attention. Each statement that flags a row notes its id:
    replay recording an error, a retry that fails again, capture logging a TRUNCATE
    of the table or of one of its partitions. Pruning drops the ids whose row lost
    its flags."""
    with connect(people) as c:
        c.execute("CREATE TABLE parts (id int PRIMARY KEY, name text) PARTITION BY RANGE (id)")
        c.execute("CREATE TABLE parts_low PARTITION OF parts FOR VALUES FROM (0) TO (100)")
        c.execute("SELECT graph.add_table('parts', columns => '{name}')")
        c.execute(POISON)
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute("INSERT INTO people VALUES (666, 'cursed', 1)")
        assert apply(c)["failed"] == 1
        assert retry(c)["still_failed"] == 1  # failed again: its error recorded anew
        c.execute("TRUNCATE parts")
        c.execute("TRUNCATE parts_low")
        flagged = c.execute("SELECT count(*) FILTER (WHERE l.error_message IS NOT NULL),"
                            " count(*) FILTER (WHERE l.needs_vacuum AND l.table_oid = 'parts_low'::regclass)"
                            " FROM graph._sync_log AS l").fetchone()
        assert flagged[0] == 1 and flagged[1] >= 1  # a member's markers too
        assert c.execute(UNNOTED).fetchone()[0] == 0
        h = health(c)
        assert h["failed_sync_rows"] == 1 and h["needs_vacuum"] and "node 666 is cursed" in h["last_error"]
        c.execute(CURE)
        c.execute("RESET graph.sync_error_policy")
        assert retry(c)["still_failed"] == 0
        c.execute("SELECT graph.build()")  # folds the TRUNCATE markers
        assert c.execute(UNNOTED).fetchone()[0] == 0
        assert not health(c)["needs_vacuum"]
        c.execute("SELECT graph.prune_sync_log('0')")
        assert c.execute("SELECT count(*) FROM graph._sync_log_attention").fetchone()[0] == 0
        verify(c)


def state_writes(c):
    return c.execute("""SELECT coalesce(n_tup_upd, 0) FROM pg_stat_xact_all_tables
                        WHERE relid = 'graph._sync_state'::regclass""").fetchone()[0]


@pytest.mark.parametrize("policy", ["skip", "stop"])
def test_the_failing_rows_of_a_large_batch_are_found_by_halves(people, policy):
    """A failing batch is applied again in halves, and the failing half in halves
    again, down to its failing rows: a few dozen applies of part of the batch, not
    one per row. Row by row, each apply wrote graph._sync_state's one row again in
    the caller's transaction, and the versions it could not prune made the next one
    dearer: 20,000 rows with one failing took minutes."""
    with connect(people) as c:
        c.execute(poison("NEW.pk IN ('666', '1500')"))
        c.execute(f"SET graph.sync_error_policy = '{policy}'")
        c.execute("INSERT INTO people SELECT g, 'p' || g, 1 FROM generate_series(2, 2001) g")
        with c.transaction():
            before = state_writes(c)
            result = apply(c)
            writes = state_writes(c) - before
        assert writes < 100, "graph._sync_state written %d times" % writes
        if policy == "skip":
            assert (result["inserts"], result["failed"], result["stopped"]) == (1998, 2, None)
            assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 0
        else:
            assert (result["inserts"], result["failed"], result["stopped"]) == (664, 1, "failed_row")
            assert c.execute("SELECT count(*) FROM graph._pending_log()").fetchone()[0] == 2001 - 665
        failed = c.execute("SELECT pk FROM graph._sync_log WHERE error_message IS NOT NULL ORDER BY id").fetchall()
        assert failed == ([("666",), ("1500",)] if policy == "skip" else [("666",)])
        assert {r[0] for r in c.execute("SELECT pk FROM graph._nodes WHERE pk IN ('665', '667', '1499', '1501')")} \
            == ({"665", "667", "1499", "1501"} if policy == "skip" else {"665"})
        c.execute(CURE)
        c.execute("SET graph.sync_error_policy = 'stop'")
        assert retry(c)["still_failed"] == 0
        apply(c)
        assert verify(c) == []


def test_a_retry_of_many_failed_rows_applies_them_by_parts(people):
    """graph.retry_failed() applies the failed rows again as replay applies a failing
    batch: the whole, then halves of what fails; the errors cleared and recorded
    together. Row by row, each wrote graph._sync_state's one row three times: 3,000
    rows took minutes."""
    with connect(people) as c:
        c.execute(poison("NEW.pk::int > 1"))
        c.execute("SET graph.sync_error_policy = 'skip'")
        c.execute("INSERT INTO people SELECT g, 'p' || g, g - 1 FROM generate_series(2, 1001) g")
        with c.transaction():
            before = state_writes(c)
            assert apply(c)["failed"] == 1000
            assert state_writes(c) - before < 100
        c.execute(poison_function("NEW.pk = '500'"))
        with c.transaction():
            before = state_writes(c)
            r = retry(c)
            writes = state_writes(c) - before
        assert (r["retried"], r["succeeded"], r["still_failed"], len(r["failed_ids"])) == (1000, 999, 1, 1)
        assert writes < 100, "graph._sync_state written %d times" % writes
        assert c.execute("SELECT pk FROM graph._sync_log WHERE error_message IS NOT NULL").fetchall() == [("500",)]
        assert ("missing_node", "500") in {(d[0], d[2]) for d in verify(c)}
        c.execute(CURE)
        assert retry(c)["succeeded"] == 1
        assert verify(c) == []
