//! Golden and round-trip tests of the Responses API dialect.
