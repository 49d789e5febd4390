//! Reply-side tests: response objects and typed event streams, written and read.
