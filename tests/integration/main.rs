//! End-to-end tests of the `crashtest` binary on real writers, real files, real signals.
//!
//! The story they pin down is PILOT-82: a Go WAL's `Append()` wrote the 4-byte length and
//! the payload in two `write()` calls; a crash between them left a length with no data and
//! `Replay()` failed hard, so the server could not start after recovery. crashtest must
//! find that in the `seed-prefix` specimen every time, pass the PR's fix under SIGKILL
//! alone, and pass the `crc` WAL under kill and truncation. Every run here also checks that
//! no trial folder and no writer or replay process is left behind.

mod cli;
mod cluster;
mod containment;
mod fuzz;
mod layout;
mod limits;
mod persistence;
mod preflight;
mod readme;
mod specimens;
mod states;
mod support;
mod targets;
mod verdict;
mod zoo_go;
mod zoo_python;
mod zoo_rust;
