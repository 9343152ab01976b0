//! The `mspwatch` command line.
//!
//! SKELETON: the replay helper writes the commands.

fn main() {}
