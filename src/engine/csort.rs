//! The two sorts Redis's SORT and GEO searches use, reproduced so that elements that compare equal
//! come out in the same order as in Redis: glibc's `qsort` (a stable top-down merge sort) and
//! Redis's `pqsort` (Bentley–McIlroy quicksort that only sorts the part covering a range of
//! positions). Both take C-style comparators and never panic on inconsistent ones (a NaN distance
//! compares "less" both ways), unlike `slice::sort_by`.

use std::cmp::Ordering;

/// glibc's `qsort`: `msort_with_tmp`, taking from the left run while `cmp(left, right) <= 0`.
pub fn msort<T: Clone>(items: &mut [T], cmp: &mut impl FnMut(&T, &T) -> Ordering) {
    let n = items.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    msort(&mut items[..n1], cmp);
    msort(&mut items[n1..], cmp);
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&items[i], &items[j]) != Ordering::Greater {
            merged.push(items[i].clone());
            i += 1;
        } else {
            merged.push(items[j].clone());
            j += 1;
        }
    }
    merged.extend_from_slice(&items[i..n1]);
    merged.extend_from_slice(&items[j..n]);
    items.clone_from_slice(&merged);
}

/// Redis's `pqsort(a, n, es, cmp, lrange, rrange)`: afterwards positions `lrange..=rrange` hold
/// what a full sort would put there (segments entirely outside the range are left unsorted).
pub fn pqsort<T>(items: &mut [T], cmp: &mut impl FnMut(&T, &T) -> Ordering, lrange: i64, rrange: i64) {
    pqsort_segment(items, 0, items.len(), cmp, lrange, rrange);
}

/// `_pqsort` on `items[base..base + n]`; `lrange`/`rrange` are absolute positions.
fn pqsort_segment<T>(items: &mut [T], mut base: usize, mut n: usize, cmp: &mut impl FnMut(&T, &T) -> Ordering, lrange: i64, rrange: i64) {
    let lt = |o: Ordering| o == Ordering::Less;
    let gt = |o: Ordering| o == Ordering::Greater;
    loop {
        if n < 7 {
            for m in base + 1..base + n {
                let mut l = m;
                while l > base && gt(cmp(&items[l - 1], &items[l])) {
                    items.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let mut pm = base + n / 2;
        if n > 7 {
            let mut pl = base;
            let mut pn = base + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(items, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(items, pm - d, pm, pm + d, cmp);
                pn = med3(items, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(items, pl, pm, pn, cmp);
        }
        items.swap(base, pm);
        let (mut pa, mut pb) = (base + 1, base + 1);
        // pc and pd may step one below `base + 1`; kept signed as C's pointers are.
        let (mut pc, mut pd) = ((base + n - 1) as isize, (base + n - 1) as isize);
        loop {
            while pb as isize <= pc {
                let r = cmp(&items[pb], &items[base]);
                if gt(r) {
                    break;
                }
                if r == Ordering::Equal {
                    items.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb as isize <= pc {
                let r = cmp(&items[pc as usize], &items[base]);
                if lt(r) {
                    break;
                }
                if r == Ordering::Equal {
                    items.swap(pc as usize, pd as usize);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb as isize > pc {
                break;
            }
            items.swap(pb, pc as usize);
            pb += 1;
            pc -= 1;
        }
        let pn = base + n;
        let r = (pa - base).min(pb - pa);
        vecswap(items, base, pb - r, r);
        let (pc, pd) = (pc as usize, pd as usize);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(items, pb, pn - r, r);
        let overlaps = |start: usize, len: usize| {
            let (first, last) = (start as i64, (start + len) as i64 - 1);
            !((lrange < first && rrange < first) || (lrange > last && rrange > last))
        };
        let left = pb - pa;
        if left > 1 && overlaps(base, left) {
            pqsort_segment(items, base, left, cmp, lrange, rrange);
        }
        let right = pd - pc;
        if right > 1 {
            // Iterate rather than recurse, as the C code does.
            base = pn - right;
            n = right;
            if overlaps(base, n) {
                continue;
            }
        }
        return;
    }
}

fn med3<T>(items: &[T], a: usize, b: usize, c: usize, cmp: &mut impl FnMut(&T, &T) -> Ordering) -> usize {
    if cmp(&items[a], &items[b]) == Ordering::Less {
        if cmp(&items[b], &items[c]) == Ordering::Less {
            b
        } else if cmp(&items[a], &items[c]) == Ordering::Less {
            c
        } else {
            a
        }
    } else if cmp(&items[b], &items[c]) == Ordering::Greater {
        b
    } else if cmp(&items[a], &items[c]) == Ordering::Less {
        a
    } else {
        c
    }
}

/// Swaps `n` elements starting at `a` with `n` starting at `b`, pairwise.
fn vecswap<T>(items: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        items.swap(a + i, b + i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn both_sort_like_a_stable_sort_where_it_matters() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..300 {
            let len = rng.random_range(0..120usize);
            let items: Vec<(u8, usize)> = (0..len).map(|i| (rng.random_range(0..10u8), i)).collect();
            let mut want = items.clone();
            want.sort_by_key(|x| x.0);
            let mut merged = items.clone();
            msort(&mut merged, &mut |a, b| a.0.cmp(&b.0));
            assert_eq!(merged, want, "msort is stable");
            if len == 0 {
                continue;
            }
            let (lo, hi) = (rng.random_range(0..len), rng.random_range(0..len));
            let (lo, hi) = (lo.min(hi), lo.max(hi));
            let mut partial = items.clone();
            pqsort(&mut partial, &mut |a, b| a.0.cmp(&b.0), lo as i64, hi as i64);
            let keys = |v: &[(u8, usize)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
            assert_eq!(keys(&partial[lo..=hi]), keys(&want[lo..=hi]), "pqsort sorts its range");
        }
    }

    #[test]
    fn inconsistent_comparators_do_not_panic() {
        let mut values = vec![1.0, f64::NAN, 0.5, f64::NAN, 3.0, 2.0, 7.0, f64::NAN, 0.0, 9.0];
        let mut cmp = |a: &f64, b: &f64| {
            if a > b {
                Ordering::Greater
            } else if a == b {
                Ordering::Equal
            } else {
                Ordering::Less
            }
        };
        msort(&mut values.clone(), &mut cmp);
        pqsort(&mut values, &mut cmp, 0, 3);
    }
}
