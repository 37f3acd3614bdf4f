"""WHERE clauses composed from only the predicates in use.

A ``(%s IS NULL OR col = %s)`` catch-all makes one plan serve every combination of filters,
and that plan is rarely the index scan the actual combination needs; composing the clause
keeps each query exactly as selective as its filters.
"""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg import sql


class Where:
    def __init__(self, predicate: LiteralString, **params: Any) -> None:
        self.predicates: list[sql.Composable] = [sql.SQL(predicate)]
        self.params: dict[str, Any] = dict(params)

    def also(self, predicate: LiteralString, **params: Any) -> Where:
        """Add ``predicate`` when every one of its parameters has a value (not None)."""
        if all(value is not None for value in params.values()):
            self.predicates.append(sql.SQL(predicate))
            self.params.update(params)
        return self

    def clause(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.predicates)
