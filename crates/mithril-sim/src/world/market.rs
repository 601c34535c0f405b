//! The clearing rule of one auction, as a pure function (see the module documentation of
//! [`crate`] for the rule in words).

/// A bid taking part in a clearing, given in auction order: limit descending, then oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contender {
    pub limit_cents: u64,
    pub quantity: u32,
}

/// The result of one clearing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clearing {
    /// Whether the contender at the same position won.
    pub won: Vec<bool>,
    /// What every winner pays per instance-hour.
    pub price_cents: u64,
    /// The lowest limit among the winners.
    pub lowest_allocated_cents: Option<u64>,
}

/// Clears one auction.
///
/// Bids are walked in the given order. A bid asking for more instances than the auction has at all
/// can never win and takes no part. A bid whose limit is below the floor ends the walk (every later
/// bid is lower still). A bid whose whole quantity fits in what is left wins; the first bid that does
/// not fit ends the walk, and its limit is the highest losing limit. The price is the larger of the
/// floor and the highest losing limit, so it never exceeds a winner's limit: every winner came
/// before the first loser and has a limit at least as high.
pub fn clear(contenders: &[Contender], capacity: u32, floor_cents: u64) -> Clearing {
    let mut won = vec![false; contenders.len()];
    let mut left = capacity;
    let mut highest_losing: Option<u64> = None;
    let mut lowest_allocated: Option<u64> = None;
    for (position, contender) in contenders.iter().enumerate() {
        if contender.quantity > capacity {
            continue;
        }
        if contender.limit_cents < floor_cents {
            break;
        }
        if contender.quantity > left {
            highest_losing = Some(contender.limit_cents);
            break;
        }
        left -= contender.quantity;
        won[position] = true;
        lowest_allocated = Some(contender.limit_cents);
    }
    Clearing {
        won,
        price_cents: highest_losing.map_or(floor_cents, |losing| losing.max(floor_cents)),
        lowest_allocated_cents: lowest_allocated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bid(limit_cents: u64, quantity: u32) -> Contender {
        Contender {
            limit_cents,
            quantity,
        }
    }

    #[test]
    fn winners_pay_the_highest_losing_limit() {
        let clearing = clear(&[bid(3000, 2), bid(2500, 2), bid(2000, 1)], 4, 1000);
        assert_eq!(clearing.won, vec![true, true, false]);
        assert_eq!(clearing.price_cents, 2000);
        assert_eq!(clearing.lowest_allocated_cents, Some(2500));
    }

    #[test]
    fn without_losers_winners_pay_the_floor() {
        let clearing = clear(&[bid(3000, 2)], 4, 1000);
        assert_eq!(clearing.won, vec![true]);
        assert_eq!(clearing.price_cents, 1000);
    }

    #[test]
    fn all_or_nothing_and_the_first_misfit_ends_the_walk() {
        let clearing = clear(&[bid(3000, 3), bid(2800, 2), bid(2000, 1)], 4, 1000);
        assert_eq!(clearing.won, vec![true, false, false]);
        assert_eq!(clearing.price_cents, 2800);
    }

    #[test]
    fn bids_below_the_floor_never_win() {
        let clearing = clear(&[bid(900, 1)], 4, 1000);
        assert_eq!(clearing.won, vec![false]);
        assert_eq!(clearing.price_cents, 1000);
        assert_eq!(clearing.lowest_allocated_cents, None);
    }

    #[test]
    fn bids_larger_than_the_auction_take_no_part() {
        let clearing = clear(&[bid(9000, 5), bid(2000, 4)], 4, 1000);
        assert_eq!(clearing.won, vec![false, true]);
        assert_eq!(clearing.price_cents, 1000);
    }

    #[test]
    fn no_winner_ever_pays_more_than_its_limit() {
        let cases: [&[Contender]; 3] = [
            &[bid(2000, 2), bid(2000, 2), bid(2000, 1)],
            &[bid(5000, 1), bid(1500, 4), bid(1200, 1)],
            &[bid(1000, 1), bid(1000, 1), bid(1000, 1)],
        ];
        for contenders in cases {
            let clearing = clear(contenders, 3, 1000);
            for (contender, won) in contenders.iter().zip(&clearing.won) {
                if *won {
                    assert!(clearing.price_cents <= contender.limit_cents);
                }
            }
        }
    }
}
