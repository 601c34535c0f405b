//! Schedule windows: (spec, now) -> wanted state and the next transition instant. Pure.
