"""In-process auth tests share the migrated database fixtures (tests/support/database.py)."""
from tests.support import database

data_key = database.data_key
engine = database.engine
