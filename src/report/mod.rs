//! Results, read and put into words: [`lines`] types every results line and holds the one
//! rule that decides a run's verdict; [`human`] words it for the terminal, [`junit`] and
//! [`html`] for CI and people, and [`merge`] joins the files of shards and runs; [`repro`]
//! writes the command that reproduces a case.

pub mod html;
pub mod human;
pub mod junit;
pub mod lines;
pub mod merge;
pub mod repro;
