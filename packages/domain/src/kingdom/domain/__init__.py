"""Kingdom's pure core: the standard library only, so any service can reuse it."""
