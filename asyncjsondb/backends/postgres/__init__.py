"""The PostgreSQL storage backend (``create_database("postgresql://...")``)."""
