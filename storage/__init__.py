"""The lowest floor: the PostgreSQL types and helpers every domain package shares (no project imports)."""
