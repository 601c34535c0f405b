//! The reasons of conditions and events, and the reason label of metrics: one typed list.
//!
//! The wire form ([`Reason::as_str`], UpperCamelCase) is what users' alerts and tests match, so a
//! variant's name is its wire string and never changes. Each reason has a [`Category`]: whose
//! problem it is, or that it is progress.

use std::fmt;

/// Whose move a reason calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// The spec or its Secret is wrong: nothing changes until the user fixes it.
    User,
    /// Mithril refused, failed, could not be reached, or ended something on its own.
    Mithril,
    /// The Kubernetes API server failed, or a request to it could not be made.
    Kubernetes,
    /// Normal operation: what the operator did, or what it waits for.
    Progress,
}

/// Declares [`Reason`] with its wire string (the variant's name), metric label and category.
macro_rules! reasons {
    ($($category:ident { $($name:ident => $label:literal,)* })*) => {
        /// A condition or event reason.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $($($name,)*)*
        }

        impl Reason {
            /// Every reason, by category.
            pub const ALL: &'static [Reason] = &[$($(Reason::$name,)*)*];

            /// The UpperCamelCase wire form, e.g. `ApiKeySecretNotFound`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($(Reason::$name => stringify!($name),)*)*
                }
            }

            /// The metric label form: snake_case, e.g. `api_key_secret_not_found`.
            pub const fn label(self) -> &'static str {
                match self {
                    $($(Reason::$name => $label,)*)*
                }
            }

            /// Whose move this reason calls for.
            pub const fn category(self) -> Category {
                match self {
                    $($(Reason::$name => Category::$category,)*)*
                }
            }
        }
    };
}

reasons! {
    User {
        ApiKeyNotAllowed => "api_key_not_allowed",
        ApiKeyNotConfigured => "api_key_not_configured",
        ApiKeySecretNotFound => "api_key_secret_not_found",
        ApiKeyMissing => "api_key_missing",
        ApiKeyInvalid => "api_key_invalid",
        InvalidApiKey => "invalid_api_key",
        ProjectNotFound => "project_not_found",
        InstanceTypeNotFound => "instance_type_not_found",
        RegionNotFound => "region_not_found",
        InvalidLimitPrice => "invalid_limit_price",
        InvalidPricing => "invalid_pricing",
        InvalidRegionChange => "invalid_region_change",
        ImmutableFieldChanged => "immutable_field_changed",
        AdoptedBidNotFound => "adopted_bid_not_found",
        AdoptedBidTerminated => "adopted_bid_terminated",
        AdoptionRefused => "adoption_refused",
        AdoptionConflict => "adoption_conflict",
        InvalidSpec => "invalid_spec",
        Conflict => "conflict",
        SpotInstance => "spot_instance",
        ReplacementBlocked => "replacement_blocked",
    }
    Mithril {
        MithrilUnavailable => "mithril_unavailable",
        RateLimited => "rate_limited",
        NotFound => "not_found",
        RejectedByMithril => "rejected_by_mithril",
        BidRejected => "bid_rejected",
        PriceRejected => "price_rejected",
        UpdateRejected => "update_rejected",
        CreateFailed => "create_failed",
        UpdateFailed => "update_failed",
        CancelFailed => "cancel_failed",
        CreateOutcomeUnknown => "create_outcome_unknown",
        BidEndedByMithril => "bid_ended_by_mithril",
        Preempted => "preempted",
        NoAuction => "no_auction",
        InstanceNotFound => "instance_not_found",
        RequestRejected => "request_rejected",
        StatusUnchanged => "status_unchanged",
        NotReady => "not_ready",
    }
    Kubernetes {
        KubernetesApiError => "kubernetes_api_error",
        WriteFailed => "write_failed",
        Internal => "internal",
    }
    Progress {
        Synced => "synced",
        ReconcilePaused => "reconcile_paused",
        ObserveOnly => "observe_only",
        WaitingForMarketData => "waiting_for_market_data",
        BidNotPlaced => "bid_not_placed",
        WaitingForCapacity => "waiting_for_capacity",
        InstancesStarting => "instances_starting",
        Running => "running",
        Preempting => "preempting",
        Paused => "paused",
        Terminated => "terminated",
        Relocating => "relocating",
        BidCreated => "bid_created",
        BidUpdated => "bid_updated",
        BidCancelled => "bid_cancelled",
        BidOrphaned => "bid_orphaned",
        RegionChanged => "region_changed",
        RaiseReset => "raise_reset",
        LimitRaised => "limit_raised",
        LimitAtMaxPrice => "limit_at_max_price",
        DuplicateBidCancelled => "duplicate_bid_cancelled",
        OrphanBidCancelled => "orphan_bid_cancelled",
        NoInstances => "no_instances",
        InState => "in_state",
        NotInState => "not_in_state",
        Transitioning => "transitioning",
        Suspended => "suspended",
        Pausing => "pausing",
        Resuming => "resuming",
        Scaling => "scaling",
        Replacing => "replacing",
        Starting => "starting",
        Updating => "updating",
        SpotBidCreated => "spot_bid_created",
        SpotBidUpdated => "spot_bid_updated",
        SpotBidDeleted => "spot_bid_deleted",
    }
}

impl Reason {
    /// The reason of this wire string, if it is one of ours.
    pub fn parse(text: &str) -> Option<Reason> {
        Reason::ALL
            .iter()
            .copied()
            .find(|reason| reason.as_str() == text)
    }

    /// Whether the reason says something named does not exist: a Secret, a project, an instance
    /// type, a region, a bid or an instance.
    pub const fn is_not_found(self) -> bool {
        matches!(
            self,
            Reason::ApiKeySecretNotFound
                | Reason::ProjectNotFound
                | Reason::InstanceTypeNotFound
                | Reason::RegionNotFound
                | Reason::AdoptedBidNotFound
                | Reason::InstanceNotFound
                | Reason::NotFound
        )
    }

    /// Whether only the user can fix what the reason says.
    pub const fn is_users_problem(self) -> bool {
        matches!(self.category(), Category::User)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for Reason {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> Self {
        reason.as_str().to_owned()
    }
}

impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Reason> for str {
    fn eq(&self, other: &Reason) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Reason> for &str {
    fn eq(&self, other: &Reason) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Reason> for String {
    fn eq(&self, other: &Reason) -> bool {
        self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::labels::snake_case;
    use std::collections::HashSet;

    #[test]
    fn labels_are_the_snake_case_of_the_wire_strings() {
        for reason in Reason::ALL {
            assert_eq!(reason.label(), snake_case(reason.as_str()), "{reason:?}");
            assert_eq!(Reason::parse(reason.as_str()), Some(*reason));
        }
    }

    #[test]
    fn wire_strings_are_unique_and_unchanged() {
        let unique: HashSet<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(unique.len(), Reason::ALL.len());
        assert_eq!(
            Reason::ApiKeySecretNotFound.as_str(),
            "ApiKeySecretNotFound"
        );
        assert_eq!(Reason::Synced.as_str(), crate::crd::SYNCED);
        assert_eq!(Reason::parse("Nonsense"), None);
    }

    #[test]
    fn not_found_is_every_reason_naming_something_missing() {
        for reason in Reason::ALL {
            assert_eq!(
                reason.is_not_found(),
                reason.as_str().ends_with("NotFound"),
                "{reason:?}"
            );
        }
        assert!(Reason::InvalidApiKey.is_users_problem());
        assert_eq!(Reason::MithrilUnavailable.category(), Category::Mithril);
    }
}
