//! Where a torn write stops. A crash in the middle of a large write lands only its first
//! bytes, and a disk lands whole sectors, so the landed part ends where the write crosses a
//! `sector` boundary of the file, or nothing lands. A random trial draws one cut
//! ([`tear_point`]); an exhaustive run visits them all ([`tear_points`]).

use rand_core::Rng;

use crate::seed::below;

/// The cut points of a torn write at `offset` of `len` bytes: 0, then every length that
/// ends the landed bytes on a `sector` boundary of the file, all below `len`, ascending.
pub fn tear_points(offset: u64, len: u64, sector: u64) -> impl Iterator<Item = u64> {
    let first = (sector - offset % sector) % sector; // bytes up to the next boundary
    let first = if first == 0 { sector } else { first };
    std::iter::once(0).chain((first..len).step_by(sector as usize))
}

/// How many bytes of a write at `offset` of `len` bytes a torn write lets through: a
/// uniform choice among its [`tear_points`].
pub fn tear_point(rng: &mut impl Rng, offset: u64, len: u64, sector: u64) -> u64 {
    let cuts = tear_points(offset, len, sector).count() as u64;
    tear_points(offset, len, sector)
        .nth(below(rng, cuts) as usize)
        .expect("index < count")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;

    #[test]
    fn tear_points_end_on_sector_boundaries_of_the_file() {
        let mut rng = Seed(5).trial_rng(0);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let j = tear_point(&mut rng, 1000, 2000, 512);
            assert!(j < 2000);
            assert!(j == 0 || (1000 + j).is_multiple_of(512), "{j}");
            seen.insert(j);
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [0, 24, 536, 1048, 1560]
        );
        assert_eq!(
            tear_point(&mut rng, 0, 100, 512),
            0,
            "no boundary inside: nothing lands"
        );
        let bytes: std::collections::BTreeSet<u64> =
            (0..300).map(|_| tear_point(&mut rng, 7, 5, 1)).collect();
        assert_eq!(bytes.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    }
}
