//! The response cache against fake upstreams that count their calls: what is answered from it,
//! for whom, for how long, in which dialect, and how it is accounted.

mod exact;
mod semantic;
