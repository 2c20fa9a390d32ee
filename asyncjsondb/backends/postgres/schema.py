"""The tables and functions a PostgreSQL database holds for AsyncJSONDB, named by schema and prefix.

Two tables serve every collection: ``<prefix>collections`` (name -> id) and ``<prefix>records``
(one row per key, ``seq`` keeping insertion order, the value as ``json`` so its text is kept as
written). ``update`` and ``increment`` are functions, so each is one atomic statement on the server.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass

from ...errors import ConfigurationError

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,39}")

# SQLSTATEs the functions raise, mapped back to InvalidOperationError / InvalidValueError.
NOT_AN_OBJECT = "AJ001"
NOT_A_NUMBER = "AJ002"
OUT_OF_RANGE = "AJ003"
NOT_A_CONTAINER = "AJ004"  # DETAIL: "<segments walked>:<jsonb type>"
NO_ELEMENT = "AJ005"  # DETAIL: segments walked before the missing list element


@dataclass(frozen=True)
class Names:
    """Quoted, schema-qualified names of every object AsyncJSONDB creates."""

    schema: str
    prefix: str

    def __post_init__(self) -> None:
        if not _IDENTIFIER.fullmatch(self.schema):
            raise ConfigurationError("schema", "lower-case letters, digits and '_', at most 40")
        if self.prefix and not _IDENTIFIER.fullmatch(self.prefix):
            raise ConfigurationError(
                "table_prefix", "lower-case letters, digits and '_', at most 40"
            )

    def _qualified(self, name: str) -> str:
        return f'"{self.schema}"."{self.prefix}{name}"'

    @property
    def collections(self) -> str:
        return self._qualified("collections")

    @property
    def records(self) -> str:
        return self._qualified("records")

    @property
    def indexes(self) -> str:
        return self._qualified("indexes")

    def index_name(self, collection_id: int, path: str) -> str:
        """A name for a path's index, unique in the schema and short of the 63-byte limit."""
        prefix = zlib.crc32(self.prefix.encode()) & 0xFFFFFFFF
        digest = hashlib.sha256(path.encode()).hexdigest()[:12]
        return f"aj{prefix:08x}_{collection_id}_{digest}"

    def statistics(self, index_name: str) -> str:
        """The statistics object kept beside an index (``query.statistics_statement``)."""
        return f'"{self.schema}"."{index_name}_stats"'

    @property
    def collection_id(self) -> str:
        return self._qualified("collection_id")

    @property
    def update(self) -> str:
        return self._qualified("update")

    @property
    def increment(self) -> str:
        return self._qualified("increment")

    @property
    def lock_key(self) -> int:
        """An advisory-lock key for creating the schema once when many hosts start together."""
        return zlib.crc32(f"asyncjsondb:{self.schema}:{self.prefix}".encode()) & 0x7FFFFFFF


def ddl(n: Names) -> str:
    return f"""
CREATE SCHEMA IF NOT EXISTS "{n.schema}";
CREATE TABLE IF NOT EXISTS {n.collections} (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS {n.records} (
    collection_id bigint NOT NULL REFERENCES {n.collections} (id) ON DELETE CASCADE,
    key text NOT NULL,
    seq bigserial NOT NULL,
    value json NOT NULL,
    PRIMARY KEY (collection_id, key)
);
CREATE INDEX IF NOT EXISTS "{n.prefix}records_order" ON {n.records} (collection_id, seq);
CREATE TABLE IF NOT EXISTS {n.indexes} (
    collection_id bigint NOT NULL REFERENCES {n.collections} (id) ON DELETE CASCADE,
    path text NOT NULL,
    is_unique boolean NOT NULL,
    name text NOT NULL,
    seq bigserial NOT NULL,
    PRIMARY KEY (collection_id, path)
);

CREATE OR REPLACE FUNCTION {n.collection_id}(coll text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE found_id bigint;
BEGIN
    SELECT id INTO found_id FROM {n.collections} WHERE name = coll;
    IF found_id IS NULL THEN
        INSERT INTO {n.collections} (name) VALUES (coll) ON CONFLICT (name) DO NOTHING;
        SELECT id INTO found_id FROM {n.collections} WHERE name = coll;
    END IF;
    RETURN found_id;
END $$;

CREATE OR REPLACE FUNCTION {n.update}(coll text, k text, changes jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE current jsonb;
BEGIN
    SELECT r.value::jsonb INTO current FROM {n.records} r JOIN {n.collections} c
        ON c.id = r.collection_id WHERE c.name = coll AND r.key = k FOR UPDATE OF r;
    IF NOT FOUND THEN RETURN false; END IF;
    IF jsonb_typeof(current) <> 'object' THEN
        RAISE EXCEPTION 'not an object' USING ERRCODE = '{NOT_AN_OBJECT}',
            DETAIL = jsonb_typeof(current);
    END IF;
    UPDATE {n.records} r SET value = (current || changes)::json FROM {n.collections} c
        WHERE c.id = r.collection_id AND c.name = coll AND r.key = k;
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION {n.increment}(coll text, k text, path text[], amount numeric,
                                          as_float boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    cid bigint := {n.collection_id}(coll);
    last int := cardinality(path);
    current jsonb;
    node jsonb;
    old jsonb;
    fresh jsonb := to_jsonb(amount);
    result jsonb;
    float_math boolean := as_float;
    number_text text;
BEGIN
    FOR depth IN REVERSE last..1 LOOP  -- what a missing record becomes: {{"a": {{"b": amount}}}}
        fresh := jsonb_build_object(path[depth], fresh);
    END LOOP;
    LOOP
        SELECT value::jsonb INTO current FROM {n.records}
            WHERE collection_id = cid AND key = k FOR UPDATE;
        EXIT WHEN FOUND;
        INSERT INTO {n.records} (collection_id, key, value)
            VALUES (cid, k, fresh::json) ON CONFLICT DO NOTHING;
        IF FOUND THEN RETURN amount::text; END IF;
    END LOOP;
    IF jsonb_typeof(current) = 'null' THEN
        UPDATE {n.records} SET value = fresh::json WHERE collection_id = cid AND key = k;
        RETURN amount::text;
    ELSIF jsonb_typeof(current) = 'number' THEN
        old := current;
    ELSIF jsonb_typeof(current) = 'object' THEN
        node := current;  -- walk as asyncjsondb/backends/increment.py does, creating objects
        FOR depth IN 1..last LOOP
            IF jsonb_typeof(node) = 'object' THEN
                IF NOT node ? path[depth] THEN
                    fresh := to_jsonb(amount);
                    FOR rest IN REVERSE last..depth + 1 LOOP
                        fresh := jsonb_build_object(path[rest], fresh);
                    END LOOP;
                    UPDATE {n.records} SET value = jsonb_set(current, path[1:depth], fresh)::json
                        WHERE collection_id = cid AND key = k;
                    RETURN amount::text;
                END IF;
            ELSIF jsonb_typeof(node) <> 'array' THEN
                RAISE EXCEPTION 'not a container' USING ERRCODE = '{NOT_A_CONTAINER}',
                    DETAIL = (depth - 1)::text || ':' || CASE WHEN node::text ~ '^-?[0-9]+$'
                        THEN 'int' WHEN jsonb_typeof(node) = 'number' THEN 'float'
                        ELSE jsonb_typeof(node) END;
            ELSIF (CASE WHEN path[depth] ~ '^(0|[1-9][0-9]{{0,17}})$'
                    THEN path[depth]::bigint >= jsonb_array_length(node) ELSE true END) THEN
                RAISE EXCEPTION 'no such element' USING ERRCODE = '{NO_ELEMENT}',
                    DETAIL = (depth - 1)::text;
            END IF;
            node := node #> ARRAY[path[depth]];
        END LOOP;
        old := node;
        IF jsonb_typeof(old) <> 'number' THEN
            RAISE EXCEPTION 'field is not a number' USING ERRCODE = '{NOT_A_NUMBER}',
                DETAIL = jsonb_typeof(old);
        END IF;
    ELSE
        RAISE EXCEPTION 'not an object or a number' USING ERRCODE = '{NOT_AN_OBJECT}',
            DETAIL = jsonb_typeof(current);
    END IF;
    float_math := float_math OR old::text ~ '[.eE]';
    IF float_math THEN  -- binary floats, as Python adds them; 2.0 stays 2.0, not 2
        number_text := (old::text::float8 + amount::float8)::text;
        IF number_text !~ '[.eEn]' THEN number_text := number_text || '.0'; END IF;
        result := number_text::jsonb;
    ELSE
        result := to_jsonb(old::text::numeric + amount);
        IF (result::text)::numeric NOT BETWEEN -9223372036854775808 AND 18446744073709551615 THEN
            RAISE EXCEPTION 'out of range' USING ERRCODE = '{OUT_OF_RANGE}';
        END IF;
    END IF;
    IF jsonb_typeof(current) = 'number' THEN
        UPDATE {n.records} SET value = result::json WHERE collection_id = cid AND key = k;
    ELSE
        UPDATE {n.records} SET value = jsonb_set(current, path, result)::json
            WHERE collection_id = cid AND key = k;
    END IF;
    RETURN result::text;
END $$;
"""
