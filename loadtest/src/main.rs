//! `mspwatch-loadtest`: traffic generation and load tests.
//!
//! SKELETON: the load-test helper writes the commands.

fn main() {}
