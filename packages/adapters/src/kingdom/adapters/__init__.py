"""Kingdom's adapters: the services' ports implemented with third-party libraries."""
