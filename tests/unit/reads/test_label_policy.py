"""graphsync.reads.label_policy: which label columns graph._labels' policy reads
when a read narrows it to the tables it can reach (README Read security)."""

from graphsync.reads import label_policy

COLUMNS = [{"carrier": 1, "secured": False, "sql": "a"},
           {"carrier": 2, "secured": True, "sql": "b"},
           {"carrier": 3, "secured": True, "sql": "c"}]


def test_no_narrowing_reads_every_column():
    assert label_policy.asked(COLUMNS, None) == COLUMNS


def test_narrowing_skips_the_secured_columns_of_tables_not_named():
    assert [c["sql"] for c in label_policy.asked(COLUMNS, frozenset())] == ["a"]
    assert [c["sql"] for c in label_policy.asked(COLUMNS, frozenset({3}))] == ["a", "c"]
    assert [c["sql"] for c in label_policy.asked(COLUMNS, frozenset({1, 2}))] == ["a", "b"]


def test_narrowed_holds_within_its_block_only():
    assert label_policy._narrow is None
    with label_policy.narrowed([2]):
        assert label_policy._narrow == {2}
        with label_policy.narrowed(None):
            assert label_policy._narrow is None
        assert label_policy._narrow == {2}
    assert label_policy._narrow is None
    try:
        with label_policy.narrowed(()):
            raise KeyError()
    except KeyError:
        pass
    assert label_policy._narrow is None
