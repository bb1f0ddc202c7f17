//! When to make a new provider token: a small sans-io state machine.

use std::time::{Duration, Instant, SystemTime};

use crate::{ProviderToken, SignError, TokenSigner};

/// The timing rules of [`TokenPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTiming {
    /// Make a new token once the current one is this old (Apple refuses tokens older than an
    /// hour, so this leaves a margin for clock skew between us and Apple).
    pub refresh_after: Duration,
    /// Never make tokens closer together than this (Apple answers
    /// `TooManyProviderTokenUpdates` to a token changed within 20 minutes of the last).
    pub min_interval: Duration,
    /// A token this old is never used again, whatever else holds.
    pub max_age: Duration,
}

impl TokenTiming {
    /// Refresh at 50 minutes, at most every 20 minutes, never use past 60 minutes.
    pub const APPLE: Self = Self {
        refresh_after: Duration::from_secs(50 * 60),
        min_interval: Duration::from_secs(20 * 60),
        max_age: Duration::from_secs(60 * 60),
    };
}

impl Default for TokenTiming {
    fn default() -> Self {
        Self::APPLE
    }
}

/// Timings that contradict each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("token timing must satisfy min_interval <= refresh_after < max_age")]
pub struct InvalidTiming;

/// Which token a request carried: hand it back with [`TokenPolicy::handle_expired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenGeneration(u64);

/// What happens after Apple answered `ExpiredProviderToken`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Refresh {
    /// A newer token already replaced the one the request carried: send again with the current
    /// one.
    Replaced,
    /// The next [`TokenPolicy::token`] call makes a new token.
    Now,
    /// A new token may not be made before this instant (20 minutes after the last one); send
    /// nothing with this credential until then.
    At(Instant),
}

/// The provider token policy: one token, shared by every connection of a credential, reused,
/// and replaced only when Apple's rules allow.
///
/// - [`token`](Self::token) hands out the current token, making a new one when there is none,
///   when it reaches [`TokenTiming::refresh_after`], or when a refresh was asked for and the
///   last token is at least [`TokenTiming::min_interval`] old;
/// - [`handle_expired`](Self::handle_expired) takes Apple's `ExpiredProviderToken`;
///   [`handle_too_many_updates`](Self::handle_too_many_updates) its `TooManyProviderTokenUpdates`;
/// - [`poll_timeout`](Self::poll_timeout) says when the next token is due.
///
/// No clock is read: `now` (monotonic, for the intervals) and `wall` (the `iat` claim) are the
/// caller's. Intervals are measured on the monotonic clock so that a wall-clock jump can neither
/// stall the refresh nor trigger a burst of new tokens.
///
/// ```
/// # fn signer() -> apns_auth::TokenSigner { unimplemented!() }
/// # fn main() -> Result<(), apns_auth::SignError> {
/// # if true { return Ok(()) }
/// use std::time::{Duration, Instant, SystemTime};
/// use apns_auth::{Refresh, TokenPolicy};
/// let mut policy = TokenPolicy::new(signer());
/// let (start, wall) = (Instant::now(), SystemTime::now());
/// let (first, generation) = policy.token(start, wall)?;
/// let (again, _) = policy.token(start + Duration::from_secs(600), wall)?;
/// assert_eq!(first, again); // reused
/// // Apple said ExpiredProviderToken for a request carrying `generation`:
/// assert!(matches!(policy.handle_expired(generation, start + Duration::from_secs(601)), Refresh::At(_)));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TokenPolicy {
    signer: TokenSigner,
    timing: TokenTiming,
    current: Option<Current>,
    generations: u64,
    refresh_requested: bool,
    blocked_until: Option<Instant>,
}

#[derive(Debug)]
struct Current {
    token: ProviderToken,
    generation: TokenGeneration,
    created: Instant,
}

impl TokenPolicy {
    /// A policy with Apple's timing ([`TokenTiming::APPLE`]).
    pub fn new(signer: TokenSigner) -> Self {
        Self {
            signer,
            timing: TokenTiming::APPLE,
            current: None,
            generations: 0,
            refresh_requested: false,
            blocked_until: None,
        }
    }

    /// A policy with other timing (tests, or a stricter margin).
    pub fn with_timing(signer: TokenSigner, timing: TokenTiming) -> Result<Self, InvalidTiming> {
        if timing.min_interval > timing.refresh_after || timing.refresh_after >= timing.max_age {
            return Err(InvalidTiming);
        }
        Ok(Self { timing, ..Self::new(signer) })
    }

    /// The signer.
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// The current token and its generation, without making one.
    pub fn current(&self) -> Option<(&ProviderToken, TokenGeneration)> {
        self.current.as_ref().map(|current| (&current.token, current.generation))
    }

    /// The token to put in a request sent at `now`, making a new one (issued at `wall`) if it
    /// is due. Cloning the token is a reference count.
    pub fn token(
        &mut self,
        now: Instant,
        wall: SystemTime,
    ) -> Result<(ProviderToken, TokenGeneration), SignError> {
        if self.new_token_due(now) {
            let token = self.signer.sign(wall)?;
            self.generations += 1;
            let generation = TokenGeneration(self.generations);
            self.current = Some(Current { token, generation, created: now });
            self.refresh_requested = false;
            self.blocked_until = None;
        }
        match &self.current {
            Some(current) => Ok((current.token.clone(), current.generation)),
            // A token was just made if there was none.
            None => Err(SignError),
        }
    }

    fn new_token_due(&self, now: Instant) -> bool {
        let Some(current) = &self.current else { return true };
        let age = now.saturating_duration_since(current.created);
        if age >= self.timing.max_age {
            return true;
        }
        let due = age >= self.timing.refresh_after || self.refresh_requested;
        due && self.allowed_at(current).is_none_or(|allowed| now >= allowed)
    }

    /// The earliest instant a new token may be made after `current`.
    fn allowed_at(&self, current: &Current) -> Option<Instant> {
        let after_interval = current.created.checked_add(self.timing.min_interval);
        match (after_interval, self.blocked_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Apple answered `ExpiredProviderToken` to a request that carried `generation`: the token
    /// is replaced as soon as the 20-minute rule allows.
    pub fn handle_expired(&mut self, generation: TokenGeneration, now: Instant) -> Refresh {
        let Some(current) = &self.current else { return Refresh::Now };
        if generation < current.generation {
            return Refresh::Replaced;
        }
        self.refresh_requested = true;
        match self.allowed_at(current) {
            Some(allowed)
                if allowed > now && now.saturating_duration_since(current.created) < self.timing.max_age =>
            {
                Refresh::At(allowed)
            }
            _ => Refresh::Now,
        }
    }

    /// Apple answered `TooManyProviderTokenUpdates` (its view of our last change differs from
    /// ours, e.g. another process shares the key): keep the current token, and make no new one
    /// for another [`TokenTiming::min_interval`] unless the current one reaches
    /// [`TokenTiming::max_age`].
    pub fn handle_too_many_updates(&mut self, now: Instant) {
        self.blocked_until = now.checked_add(self.timing.min_interval);
    }

    /// When [`token`](Self::token) will next make a new token: the refresh time of the current
    /// one, or when a requested refresh becomes allowed. `None` before the first token.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let current = self.current.as_ref()?;
        let max_age = current.created.checked_add(self.timing.max_age);
        let due = if self.refresh_requested {
            self.allowed_at(current)
        } else {
            let refresh = current.created.checked_add(self.timing.refresh_after);
            match (refresh, self.blocked_until) {
                (Some(refresh), Some(blocked)) => Some(refresh.max(blocked)),
                (refresh, _) => refresh,
            }
        };
        match (due, max_age) {
            (Some(due), Some(max_age)) => Some(due.min(max_age)),
            (due, max_age) => due.or(max_age),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use proptest::prelude::*;

    use super::*;
    use crate::key::tests::{apple_style_pkcs8, pem};
    use crate::{KeyId, SigningKey, TeamId};

    const MINUTE: Duration = Duration::from_secs(60);

    fn policy() -> TokenPolicy {
        let key = SigningKey::from_p8_pem(pem("PRIVATE KEY", &apple_style_pkcs8()).as_bytes()).unwrap();
        TokenPolicy::new(TokenSigner::new(
            key,
            KeyId::new("ABC123DEFG").unwrap(),
            TeamId::new("DEF123GHIJ").unwrap(),
        ))
    }

    /// A monotonic start and a wall clock that runs alongside it.
    struct Clock {
        start: Instant,
    }

    impl Clock {
        fn at(&self, elapsed: Duration) -> (Instant, SystemTime) {
            (self.start + elapsed, UNIX_EPOCH + Duration::from_secs(1_700_000_000) + elapsed)
        }
    }

    #[test]
    fn reused_then_refreshed_at_fifty_minutes() {
        let clock = Clock { start: Instant::now() };
        let mut policy = policy();
        assert_eq!(policy.poll_timeout(), None);
        let (now, wall) = clock.at(Duration::ZERO);
        let (first, g1) = policy.token(now, wall).unwrap();
        assert_eq!(first.issued_at(), wall);
        assert_eq!(policy.poll_timeout(), Some(now + 50 * MINUTE));
        let (now, wall) = clock.at(49 * MINUTE);
        assert_eq!(policy.token(now, wall).unwrap(), (first.clone(), g1));
        let (now, wall) = clock.at(50 * MINUTE);
        let (second, g2) = policy.token(now, wall).unwrap();
        assert!(g2 > g1 && second != first);
        assert_eq!(second.issued_at(), wall);
    }

    #[test]
    fn expired_waits_for_twenty_minutes_then_refreshes_once() {
        let clock = Clock { start: Instant::now() };
        let mut policy = policy();
        let (now, wall) = clock.at(Duration::ZERO);
        let (first, g1) = policy.token(now, wall).unwrap();
        let (now, _) = clock.at(5 * MINUTE);
        assert_eq!(policy.handle_expired(g1, now), Refresh::At(clock.at(20 * MINUTE).0));
        assert_eq!(policy.poll_timeout(), Some(clock.at(20 * MINUTE).0));
        let (now, wall) = clock.at(19 * MINUTE);
        assert_eq!(policy.token(now, wall).unwrap().0, first, "not within 20 minutes");
        let (now, wall) = clock.at(20 * MINUTE);
        let (second, g2) = policy.token(now, wall).unwrap();
        assert_ne!(second, first);
        // Late answers about the old token change nothing.
        assert_eq!(policy.handle_expired(g1, now), Refresh::Replaced);
        let (now, wall) = clock.at(21 * MINUTE);
        assert_eq!(policy.token(now, wall).unwrap(), (second, g2));
    }

    #[test]
    fn expired_after_twenty_minutes_refreshes_now() {
        let clock = Clock { start: Instant::now() };
        let mut policy = policy();
        let (now, wall) = clock.at(Duration::ZERO);
        let (first, g1) = policy.token(now, wall).unwrap();
        let (now, wall) = clock.at(30 * MINUTE);
        assert_eq!(policy.handle_expired(g1, now), Refresh::Now);
        assert_ne!(policy.token(now, wall).unwrap().0, first);
    }

    #[test]
    fn too_many_updates_holds_the_token_but_never_past_an_hour() {
        let clock = Clock { start: Instant::now() };
        let mut policy = policy();
        let (now, wall) = clock.at(Duration::ZERO);
        let (first, _) = policy.token(now, wall).unwrap();
        policy.handle_too_many_updates(clock.at(45 * MINUTE).0);
        let (now, wall) = clock.at(55 * MINUTE);
        assert_eq!(policy.token(now, wall).unwrap().0, first, "blocked for 20 minutes");
        let (now, wall) = clock.at(60 * MINUTE);
        assert_ne!(policy.token(now, wall).unwrap().0, first, "an hour-old token is never used");
    }

    #[test]
    fn timing_must_be_consistent() {
        let signer = policy().signer;
        let bad = TokenTiming { refresh_after: 10 * MINUTE, ..TokenTiming::APPLE };
        assert_eq!(TokenPolicy::with_timing(signer, bad).err(), Some(InvalidTiming));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Token,
        Expired { of_current: bool },
        TooManyUpdates,
        Wait(Duration),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Token),
            2 => any::<bool>().prop_map(|of_current| Op::Expired { of_current }),
            1 => Just(Op::TooManyUpdates),
            4 => (0u64..=40 * 60).prop_map(|secs| Op::Wait(Duration::from_secs(secs))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Apple's rules hold for any sequence of requests, rejections and waits: tokens are
        /// made at least 20 minutes apart; a token handed out is under an hour old, and under
        /// 50 minutes unless Apple said we changed too often; a token is reused while none of
        /// the rules calls for a new one; an expired token is replaced at the first request
        /// the 20-minute rule allows; `iat` is the wall clock at creation; `poll_timeout` names
        /// exactly the instant from which `token` makes a new one.
        #[test]
        fn timing_rules(ops in proptest::collection::vec(op(), 1..80)) {
            let clock = Clock { start: Instant::now() };
            let mut policy = policy();
            let mut elapsed = Duration::ZERO;
            let mut made: Vec<Duration> = Vec::new();
            let mut last: Option<(ProviderToken, TokenGeneration)> = None;
            let mut expired_pending = false;
            let mut blocked_until: Option<Duration> = None;
            for op in ops {
                let (now, wall) = clock.at(elapsed);
                match op {
                    Op::Wait(step) => elapsed += step,
                    Op::TooManyUpdates => {
                        policy.handle_too_many_updates(now);
                        blocked_until = Some(elapsed + 20 * MINUTE);
                    }
                    Op::Expired { of_current } => {
                        if let Some((_, generation)) = &last {
                            let generation = if of_current { *generation } else { TokenGeneration(generation.0.saturating_sub(1)) };
                            let refresh = policy.handle_expired(generation, now);
                            if of_current {
                                expired_pending = true;
                                let created = *made.last().unwrap();
                                match refresh {
                                    Refresh::At(at) => prop_assert!(at > now),
                                    Refresh::Now => prop_assert!(elapsed >= created + 20 * MINUTE || elapsed >= created + 60 * MINUTE
                                        || blocked_until.is_some_and(|b| b <= elapsed)),
                                    Refresh::Replaced => prop_assert!(false, "current token reported replaced"),
                                }
                            }
                        }
                    }
                    Op::Token => {
                        let due = policy.poll_timeout();
                        let (token, generation) = policy.token(now, wall).unwrap();
                        let fresh = last.as_ref().is_none_or(|(_, previous)| generation != *previous);
                        // poll_timeout is exact: a new token exactly when it has come.
                        prop_assert_eq!(fresh, due.is_none_or(|due| now >= due));
                        if fresh {
                            if let Some(previous) = made.last() {
                                prop_assert!(elapsed >= *previous + 20 * MINUTE, "tokens {previous:?} and {elapsed:?} too close");
                            }
                            prop_assert_eq!(token.issued_at(), UNIX_EPOCH + Duration::from_secs(wall.duration_since(UNIX_EPOCH).unwrap().as_secs()));
                            made.push(elapsed);
                            expired_pending = false;
                            blocked_until = None;
                        } else {
                            let created = *made.last().unwrap();
                            let age = elapsed - created;
                            prop_assert!(age < 60 * MINUTE);
                            let blocked = blocked_until.is_some_and(|b| elapsed < b);
                            prop_assert!(age < 50 * MINUTE || blocked, "age {age:?} reused");
                            prop_assert!(!(expired_pending && age >= 20 * MINUTE && !blocked), "expired token kept");
                        }
                        last = Some((token, generation));
                    }
                }
            }
        }
    }
}
