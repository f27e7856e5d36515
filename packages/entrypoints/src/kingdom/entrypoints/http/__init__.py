"""The HTTP surface: the Starlette application and its routes."""
