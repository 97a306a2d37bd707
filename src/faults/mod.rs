//! What a crash does to the files, in the order a trial meets it: the fault class drawn for
//! the trial ([`FaultKind`]), where a torn write stops ([`tear_point`]), the damage done
//! to the folder after the kill ([`apply`]), and the persistence model by which a power
//! loss rebuilds the folder ([`power`]).

mod damage;
mod kind;
pub mod power;
mod tear;

pub use damage::{Context, Damage, apply, escaping_links};
pub use kind::FaultKind;
pub use tear::{tear_point, tear_points};
