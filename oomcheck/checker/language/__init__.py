"""The modeling language: models as values, their types, the compiler and a reference interpreter."""
