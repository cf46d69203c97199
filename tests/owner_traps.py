"""The code a hostile table owner plants around a registered column's type, which the
privilege tests (test_security.py: registration, capture, build, verify;
test_replica_subscribe.py: the subscription path) check nobody but the owner runs.

Each piece calls ``own.spy(what)``, which each test file defines to record who ran it."""

# own.mood, an enum type, with casts to text, json and jsonb and from text, and an
# ``=`` operator, each a PL/pgSQL function of the owner's that calls own.spy.
MOOD_TRAPS = """
CREATE TYPE own.mood AS ENUM ('sad', 'ok', 'happy');
CREATE FUNCTION own.mood_text(own.mood) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('mood::text'); RETURN 'X' || pg_catalog.format('%s', $1); END $$;
CREATE CAST (own.mood AS text) WITH FUNCTION own.mood_text(own.mood);
CREATE FUNCTION own.mood_json(own.mood) RETURNS json LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('mood::json'); RETURN pg_catalog.to_json(pg_catalog.format('X%s', $1)); END $$;
CREATE CAST (own.mood AS json) WITH FUNCTION own.mood_json(own.mood);
CREATE FUNCTION own.mood_jsonb(own.mood) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('mood::jsonb'); RETURN pg_catalog.to_jsonb(pg_catalog.format('X%s', $1)); END $$;
CREATE CAST (own.mood AS jsonb) WITH FUNCTION own.mood_jsonb(own.mood);
CREATE FUNCTION own.text_mood(text) RETURNS own.mood LANGUAGE plpgsql AS $$
BEGIN
    PERFORM own.spy('text::mood');
    RETURN (SELECT m FROM pg_catalog.unnest(pg_catalog.enum_range(NULL::own.mood)) AS m
            WHERE pg_catalog.format('%s', m) OPERATOR(pg_catalog.=) $1);
END $$;
CREATE CAST (text AS own.mood) WITH FUNCTION own.text_mood(text);
CREATE FUNCTION own.mood_eq(own.mood, own.mood) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM own.spy('mood = mood'); RETURN pg_catalog.enum_cmp($1, $2) OPERATOR(pg_catalog.=) 0; END $$;
CREATE OPERATOR own.= (LEFTARG = own.mood, RIGHTARG = own.mood, FUNCTION = own.mood_eq);
"""
