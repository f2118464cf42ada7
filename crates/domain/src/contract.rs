//! What every implementation of a repository trait must do alike: the
//! in-memory fakes run these in this crate's tests, the SQL repositories
//! in `spin-users-store`'s, on SQLite and on PostgreSQL.

use crate::ending::EndReason;
use crate::fakes::{password_login, sample_user};
use crate::hashing::Credential;
use crate::name::DisplayName;
use crate::passkeys::{MAX_PASSKEYS, Passkey, PasskeyRepository};
use crate::random::testing::SeededRandom;
use crate::second_factor::{
    FACTOR_LOCK_SECS, FactorRecord, LoginMethod, MAX_FACTOR_FAILURES, Reservation, SecondFactors,
};
use crate::session_list::SessionQuery;
use crate::sessions::{REFRESH_TOKEN_TTL_SECS, SessionOwner, SessionRepository, start_session};
use crate::user::{RepoError, Role, UserId, UserRepository};

/// The session listing: the owner's live sessions only, newest first,
/// paged by cursor; ended and expired ones left out.
pub fn sessions_list_newest_first_and_leave_out_ended_and_expired(repo: &dyn SessionRepository) {
    let mut random = SeededRandom::new(1);
    let owner = UserId::generate(&mut random);
    let stranger = UserId::generate(&mut random);
    let t0 = 1_800_000_000;
    let mut started = Vec::new();
    for i in 0..5 {
        let agent = format!("agent {i}");
        let at_ms = (t0 + i) * 1000;
        // Every other login is proven with a second factor.
        let method = if i % 2 == 0 {
            LoginMethod::Password
        } else {
            LoginMethod::PasswordAndOtp
        };
        let login = start_session(repo, &owner, at_ms, Some(&agent), method, &mut random);
        started.push(login.expect("login").family_id);
    }
    password_login(repo, &stranger, t0 * 1000, &mut random);
    let reason = EndReason::EndedByOwner;
    assert!(
        repo.end(&owner, &started[3], t0 + 10, reason)
            .expect("end one")
    );
    let ended_owner = SessionOwner {
        user_id: owner.clone(),
        ended: true,
        method: LoginMethod::PasswordAndOtp,
    };
    assert_eq!(repo.owner(&started[3]).expect("owner"), Some(ended_owner));
    let live_owner = SessionOwner {
        user_id: owner.clone(),
        ended: false,
        method: LoginMethod::Password,
    };
    assert_eq!(repo.owner(&started[2]).expect("owner"), Some(live_owner));
    assert_eq!(repo.owner("no-such-session").expect("owner"), None);
    let now = t0 + 10;

    let first = SessionQuery::parse([("limit", "2")]).expect("valid");
    let (page, cursor) = first.page(repo, &owner, now).expect("page");
    let ids: Vec<_> = page.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids, [started[4].clone(), started[2].clone()]);
    assert_eq!(page[0].user_agent.as_deref(), Some("agent 4"));
    assert_eq!(page[0].created_at, t0 + 4);
    assert_eq!(page[0].last_used_at, t0 + 4);
    let cursor = cursor.expect("more");
    let next = SessionQuery::parse([("limit", "2"), ("cursor", cursor.as_str())]);
    let (rest, end) = next.expect("valid").page(repo, &owner, now).expect("page");
    let ids: Vec<_> = rest.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids, [started[1].clone(), started[0].clone()]);
    assert_eq!(end, None);

    let refreshed = repo.advance(&started[0], t0 + 3).expect("a refresh");
    assert_eq!(refreshed, Some(LoginMethod::Password));
    let refreshed = repo.advance(&started[1], t0 + 3).expect("a refresh");
    assert_eq!(
        refreshed,
        Some(LoginMethod::PasswordAndOtp),
        "a refresh answers how the session's login was proven"
    );
    let ended = repo.advance(&started[3], t0 + 3).expect("an ended one");
    assert_eq!(ended, None, "an ended session does not advance");
    let later = t0 + 3 + REFRESH_TOKEN_TTL_SECS;
    let (left, _) = first.page(repo, &owner, later).expect("page");
    let ids: Vec<_> = left.iter().map(|s| s.id.clone()).collect();
    assert_eq!(
        ids,
        [started[4].clone()],
        "the others expired; a refresh counts as a use"
    );
    let (theirs, _) = first.page(repo, &stranger, now).expect("page");
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].user_agent, None);
}

/// The last-admin rule ([`crate::admins`]): the last active administrator
/// cannot be demoted, disabled or deleted, with or without a version; a
/// disabled administrator does not count; other writes of them, and of
/// anyone once another active administrator exists, go through; a write
/// from an old read is `Stale`, not `LastAdmin`.
pub fn users_keep_an_active_admin(repo: &dyn UserRepository) {
    let credential = || Credential::from_phc("$argon2id$not-checked".into());
    let root = sample_user(101, "root@example.com", vec![Role::User, Role::Admin]);
    let mut ada = sample_user(102, "ada@example.com", vec![Role::User, Role::Admin]);
    ada.disabled = true;
    let bob = sample_user(103, "bob@example.com", vec![Role::User]);
    for user in [&root, &ada, &bob] {
        repo.insert(user, &credential()).expect("insert");
    }
    let stored = |id: &UserId| repo.by_id(id).expect("read").expect("exists");

    let mut demoted = root.clone();
    demoted.roles = vec![Role::User];
    let mut disabled = root.clone();
    disabled.disabled = true;
    assert_eq!(repo.update(&demoted, None), Err(RepoError::LastAdmin));
    assert_eq!(repo.update(&disabled, None), Err(RepoError::LastAdmin));
    assert_eq!(repo.delete(&root.id, None), Err(RepoError::LastAdmin));
    assert_eq!(repo.delete(&root.id, Some(1)), Err(RepoError::LastAdmin));
    assert_eq!(stored(&root.id), root, "nothing written");
    assert!(repo.delete(&bob.id, None).expect("not an admin"));

    let mut renamed = root.clone();
    renamed.name = DisplayName::parse("Root").expect("valid");
    repo.update(&renamed, None)
        .expect("the last admin may change the rest");
    assert_eq!(
        repo.update(&disabled, None),
        Err(RepoError::Stale),
        "a write from an old read"
    );

    let mut enabled = stored(&ada.id);
    enabled.disabled = false;
    repo.update(&enabled, None).expect("re-enabling an admin");
    let mut demoted = stored(&root.id);
    demoted.roles = vec![Role::User];
    repo.update(&demoted, None)
        .expect("another active admin remains");
    let mut last = stored(&ada.id);
    last.disabled = true;
    assert_eq!(repo.update(&last, None), Err(RepoError::LastAdmin));
    assert!(repo.delete(&root.id, None).expect("no longer an admin"));
    assert_eq!(repo.delete(&ada.id, None), Err(RepoError::LastAdmin));
}

/// Second factors: each write holds only under the condition it was read
/// under, and the failure counter locks on the fifth failure in a row.
/// `user` is an account without a factor.
pub fn second_factors_write_only_what_was_read(factors: &dyn SecondFactors, user: &UserId) {
    let now = 1_800_000_000;
    let nobody = UserId::generate(&mut SeededRandom::new(99));
    assert_eq!(factors.record(&nobody).expect("record"), None);
    let empty = factors.record(user).expect("record").expect("an account");
    assert_eq!(empty, FactorRecord::default());

    assert!(!factors.enable(user, "p1", 10, "c", now).expect("enable"));
    assert!(factors.begin(user, "p1").expect("begin"));
    assert!(
        factors
            .begin(user, "p2")
            .expect("a new enrolment replaces it")
    );
    assert!(
        !factors.enable(user, "p1", 10, "c", now).expect("enable"),
        "the pending secret moved on"
    );
    assert!(
        factors
            .enable(user, "p2", 100, "codes", now)
            .expect("enable")
    );
    let on = FactorRecord {
        pending: None,
        secret: Some("p2".into()),
        last_step: 100,
        recovery_codes: "codes".into(),
    };
    assert_eq!(factors.record(user).expect("record"), Some(on));
    assert!(!factors.begin(user, "p3").expect("begin"), "a factor is on");
    assert!(!factors.enable(user, "p2", 101, "c", now).expect("enable"));

    for (secret, step) in [("p2", 100), ("p2", 99), ("other", 101)] {
        assert!(
            !factors.accept_step(user, secret, step).expect("accept"),
            "{secret} at {step}"
        );
    }
    assert!(factors.accept_step(user, "p2", 101).expect("accept"));
    assert_eq!(factors.record(user).expect("r").expect("r").last_step, 101);

    for _ in 1..MAX_FACTOR_FAILURES {
        assert_eq!(
            factors.reserve(user, now).expect("reserve"),
            Reservation::Counted
        );
    }
    assert_eq!(
        factors.reserve(user, now).expect("the fifth"),
        Reservation::Last,
        "the fifth attempt is still checked, and locks unless it succeeds"
    );
    let until = now + FACTOR_LOCK_SECS;
    assert_eq!(
        factors.reserve(user, now + 1).expect("reserve"),
        Reservation::Locked { until },
        "five failures in a row lock it"
    );
    assert_eq!(
        factors.reserve(user, until).expect("reserve"),
        Reservation::Counted,
        "the lock ends, and counting starts again at one"
    );
    for _ in 2..MAX_FACTOR_FAILURES {
        assert_eq!(
            factors.reserve(user, until).expect("reserve"),
            Reservation::Counted
        );
    }
    assert!(factors.accept_step(user, "p2", 102).expect("a success"));
    for _ in 1..MAX_FACTOR_FAILURES {
        assert_eq!(
            factors.reserve(user, until).expect("reserve"),
            Reservation::Counted
        );
    }
    assert_eq!(
        factors.reserve(user, until + 1).expect("reserve"),
        Reservation::Last,
        "a success reset the count"
    );
    assert!(matches!(
        factors.reserve(user, until + 2).expect("reserve"),
        Reservation::Locked { .. }
    ));

    assert!(
        !factors
            .spend_recovery_code(user, "wrong", "x")
            .expect("spend")
    );
    assert!(
        factors
            .spend_recovery_code(user, "codes", "left")
            .expect("spend")
    );
    assert!(
        !factors
            .spend_recovery_code(user, "codes", "x")
            .expect("spent")
    );
    let record = factors.record(user).expect("record").expect("record");
    assert_eq!(record.recovery_codes, "left");
    assert_eq!(
        factors.reserve(user, until + 3).expect("reserve"),
        Reservation::Counted,
        "a recovery code reset the count and the lock"
    );

    assert!(factors.disable(user, now).expect("disable"));
    assert_eq!(
        factors.record(user).expect("record"),
        Some(FactorRecord::default())
    );
    assert!(
        !factors.disable(user, now).expect("disable"),
        "nothing is on"
    );
    assert!(factors.begin(user, "p4").expect("enrol again"));
    assert!(
        factors
            .disable(user, now)
            .expect("a pending one is cleared too")
    );
}

/// A passkey of `user` with credential id `id`, created at `created_at`.
pub fn sample_passkey(user: &UserId, id: &str, created_at: i64) -> Passkey {
    Passkey {
        id: id.to_owned(),
        user_id: user.clone(),
        name: "Laptop".into(),
        public_key: vec![0xa5, 1, 2, 3],
        algorithm: -8,
        sign_count: 7,
        backup_eligible: true,
        aaguid: "00".repeat(16),
        created_at,
        last_used_at: None,
    }
}

/// Passkeys: a credential id is registered once across accounts, an
/// account holds at most [`MAX_PASSKEYS`], the counter moves only from
/// the value read, and an account removes only its own. `user` and
/// `other` are accounts without passkeys.
pub fn passkeys_write_only_what_was_read(
    passkeys: &dyn PasskeyRepository,
    user: &UserId,
    other: &UserId,
) {
    let first = sample_passkey(user, "Y3JlZC0x", 100);
    assert!(passkeys.insert(&first).expect("insert"));
    assert_eq!(
        passkeys.by_id(&first.id).expect("read"),
        Some(first.clone())
    );
    let taken = sample_passkey(other, &first.id, 101);
    assert!(
        !passkeys.insert(&taken).expect("insert"),
        "one id, one account"
    );
    assert_eq!(passkeys.of_user(other).expect("list"), vec![]);
    let second = sample_passkey(user, "Y3JlZC0y", 99);
    assert!(passkeys.insert(&second).expect("insert"));
    let ids: Vec<String> = passkeys
        .of_user(user)
        .expect("list")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        ids,
        vec![second.id.clone(), first.id.clone()],
        "oldest first"
    );
    for n in 2..MAX_PASSKEYS {
        let more = sample_passkey(user, &format!("more-{n}"), 200);
        assert!(passkeys.insert(&more).expect("insert"));
    }
    let over = sample_passkey(user, "one-too-many", 300);
    assert!(
        !passkeys.insert(&over).expect("insert"),
        "at most MAX_PASSKEYS"
    );

    assert!(
        !passkeys.record_use(&first.id, 6, 9, 500).expect("use"),
        "not as read"
    );
    assert!(passkeys.record_use(&first.id, 7, 9, 500).expect("use"));
    assert!(
        !passkeys.record_use(&first.id, 7, 10, 501).expect("use"),
        "moved on"
    );
    let used = passkeys.by_id(&first.id).expect("read").expect("there");
    assert_eq!((used.sign_count, used.last_used_at), (9, Some(500)));

    assert!(
        !passkeys.delete(other, &first.id).expect("delete"),
        "not theirs"
    );
    assert!(passkeys.delete(user, &first.id).expect("delete"));
    assert!(!passkeys.delete(user, &first.id).expect("delete"), "gone");
    assert_eq!(passkeys.by_id(&first.id).expect("read"), None);
    let kept = sample_passkey(other, "b3RoZXI", 600);
    assert!(passkeys.insert(&kept).expect("insert"));
    assert_eq!(
        passkeys.delete_all(user).expect("delete"),
        MAX_PASSKEYS as u64 - 1
    );
    assert_eq!(passkeys.of_user(user).expect("list"), vec![]);
    assert_eq!(passkeys.of_user(other).expect("list"), vec![kept]);
}
