//! PostgreSQL round trips per operation (issue 19): a send with its event and notify, an
//! inbox take, a task claim and a pooled checkout each cost one round trip on a warm
//! connection. The store talks to the server through a loopback proxy of this test that reads
//! the client's side of the wire protocol and counts the points where the client waits for
//! the server: a simple `Query` (`Q`) or a `Sync` (`S`, which ends an extended-protocol
//! exchange: Parse/Bind/Describe/Execute). What each round trip carried is kept, so a failure
//! shows the statements.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use team_core::{AgentName, MemberStatus, MessageKind, TeamName};
use team_store::{NewMember, NewTask, NewTeam, Outgoing, Recipient, Store};
use team_testkit::pg::PgSchema;

/// What the client sent: one entry per round trip (the SQL of the `Q`, or of the `P`arses and
/// `B`inds before the `S`).
#[derive(Default)]
struct Wire {
    connections: usize,
    trips: Vec<String>,
    pending: String,
}

/// A TCP proxy from a loopback port to the PostgreSQL server, counting round trips.
struct Proxy {
    port: u16,
    wire: Arc<Mutex<Wire>>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let wire = Arc::new(Mutex::new(Wire::default()));
        let w = wire.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    return;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || copy_plain(s2, c2));
                let w = w.clone();
                w.lock().unwrap().connections += 1;
                std::thread::spawn(move || copy_counting(client, server, &w));
            }
        });
        Proxy { port, wire }
    }

    /// The round trips since the last call (and forgets them).
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.wire.lock().unwrap().trips)
    }
}

fn copy_plain(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// Copies the client's bytes to the server, message by message, noting the round trips.
fn copy_counting(mut from: TcpStream, mut to: TcpStream, wire: &Mutex<Wire>) {
    let mut read_exact = |buf: &mut [u8]| from.read_exact(buf).is_ok();
    // Start-up messages have no type byte: an SSL or GSS encryption request (answered with
    // one byte, then another start-up message follows) or the startup packet itself.
    loop {
        let mut len = [0u8; 4];
        if !read_exact(&mut len) {
            return;
        }
        let n = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; n.saturating_sub(4)];
        if !read_exact(&mut body) || to.write_all(&len).is_err() || to.write_all(&body).is_err() {
            return;
        }
        let code = body
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if !matches!(code, Some(80_877_103 | 80_877_104)) {
            break;
        }
    }
    loop {
        let mut head = [0u8; 5];
        if !read_exact(&mut head) {
            break;
        }
        let n = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; n.saturating_sub(4)];
        if !read_exact(&mut body) || to.write_all(&head).is_err() || to.write_all(&body).is_err() {
            break;
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).replace('\0', " ");
        let mut w = wire.lock().unwrap();
        match head[0] {
            b'Q' => w.trips.push(format!("Q {}", text(&body).trim())),
            // Parse: name, then the SQL.
            b'P' => {
                let sql = body.splitn(2, |b| *b == 0).nth(1).unwrap_or_default();
                let sql = text(sql);
                w.pending.push_str(&format!("prepare {} ", sql.trim()));
            }
            // Bind: portal, then the statement's name.
            b'B' => {
                let name = body.split(|b| *b == 0).nth(1).unwrap_or_default();
                w.pending.push_str(&format!("run [{}] ", text(name)));
            }
            b'S' => {
                let p = std::mem::take(&mut w.pending);
                w.trips.push(format!("S {}", p.trim()));
            }
            _ => {}
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// A store whose connections go through a counting proxy; `None` when the PostgreSQL
/// variants are skipped.
fn proxied() -> Option<(PgSchema, Proxy, Store)> {
    let schema = PgSchema::create("roundtrips")?;
    let (proxy, via) = proxy_to(&schema);
    let store = Store::open(&via).expect("open through the proxy");
    Some((schema, proxy, store))
}

/// A counting proxy to the schema's server, and the schema's URL through it.
fn proxy_to(schema: &PgSchema) -> (Proxy, String) {
    let url = &schema.url;
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, hostpart) = rest.rsplit_once('@').map_or(("", rest), |(a, h)| (a, h));
    let host_end = hostpart.find(['/', '?']).unwrap_or(hostpart.len());
    let (hostport, tail) = hostpart.split_at(host_end);
    let upstream = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    let proxy = Proxy::start(upstream);
    let at = if auth.is_empty() {
        String::new()
    } else {
        format!("{auth}@")
    };
    let sep = if tail.contains('?') { '&' } else { '?' };
    let via = format!(
        "{scheme}://{at}127.0.0.1:{}{tail}{sep}sslmode=disable",
        proxy.port
    );
    (proxy, via)
}

fn new_member(store: &Store, team_id: &str, agent: &str) -> String {
    store
        .add_member(
            team_id,
            &NewMember {
                agent: AgentName::new(agent).unwrap(),
                prompt: None,
                persistent: false,
                timeout_secs: None,
                status: MemberStatus::Running,
                runner_id: None,
            },
        )
        .unwrap()
        .name
}

/// One operation of the test, returning something to check it ran.
type Op<'a> = Box<dyn FnMut() -> usize + 'a>;

/// Runs `op` twice (the first prepares its statements on the pooled connection) and returns
/// the round trips of the second run.
fn warm<T: std::fmt::Debug>(proxy: &Proxy, mut op: impl FnMut() -> T) -> (T, Vec<String>) {
    op();
    proxy.take();
    let out = op();
    (out, proxy.take())
}

#[test]
fn each_hot_operation_is_one_round_trip_on_postgres() {
    let Some((_schema, proxy, s)) = proxied() else {
        return;
    };
    let t = s
        .create_team(&NewTeam {
            name: TeamName::new("trips").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap()
        .0;
    let a = new_member(&s, &t.id, "alpha");
    let b = new_member(&s, &t.id, "beta");
    for i in 0..6 {
        s.add_task(
            &t.id,
            &NewTask {
                title: format!("task {i}"),
                ..NewTask::default()
            },
        )
        .unwrap();
    }
    let send = |to: Recipient, key: Option<&str>| {
        let msg = Outgoing {
            from: "lead",
            to,
            kind: MessageKind::Text,
            body: "hello",
        };
        s.send_message_with(&t.id, &msg, key, false).unwrap()
    };
    let mut report = Vec::new();
    let mut keys = 0;
    let ops: Vec<(&str, Op<'_>)> = vec![
        ("checkout + one read (unread_count)", {
            Box::new(|| s.unread_count(&t.id, &a).unwrap() as usize)
        }),
        (
            "send to a member (message, event, notify)",
            Box::new(|| send(Recipient::Member(a.clone()), None).len()),
        ),
        (
            "keyed send",
            Box::new(|| {
                keys += 1;
                send(Recipient::Member(a.clone()), Some(&format!("k{keys}"))).len()
            }),
        ),
        (
            "broadcast (one body, a delivery each)",
            Box::new(|| send(Recipient::All, None).len()),
        ),
        (
            "inbox take (take_inbox)",
            Box::new(|| s.take_inbox(&t.id, &a, false).unwrap().len()),
        ),
        (
            "text take (take_text)",
            Box::new(|| s.take_text(&t.id, &b).unwrap().len()),
        ),
        (
            "claim the next task",
            Box::new(|| s.claim_task(&t.id, &a, None).unwrap().id as usize),
        ),
        (
            "claim the next task with a lease",
            Box::new(|| {
                s.claim_task_leased(&t.id, &b, None, Some(600_000))
                    .unwrap()
                    .id as usize
            }),
        ),
    ];
    for (name, mut op) in ops {
        let (_, trips) = warm(&proxy, &mut op);
        report.push((name, trips));
    }
    // A fan-out's members: one statement for all of them (in the transaction that locks
    // the team and reads its names: 6 round trips for any number).
    let news: Vec<NewMember> = (0..50)
        .map(|_| NewMember {
            agent: AgentName::new("fan").unwrap(),
            prompt: None,
            persistent: false,
            timeout_secs: None,
            status: MemberStatus::Pending,
            runner_id: None,
        })
        .collect();
    let fan = s
        .create_team(&NewTeam {
            name: TeamName::new("fan").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap()
        .0;
    let (added, trips) = warm(&proxy, || s.add_members(&fan.id, &news).unwrap());
    assert_eq!(added.len(), 50);
    assert!(added.windows(2).all(|w| w[0].id < w[1].id), "in order");
    assert!(trips.len() <= 6, "adding 50 members: {trips:#?}");
    // A runner's claim of pending members: one statement for the batch.
    let runner = s.register_runner(1, "host", 8).unwrap();
    for _ in 0..4 {
        s.add_member(
            &t.id,
            &NewMember {
                agent: AgentName::new("queued").unwrap(),
                prompt: None,
                persistent: false,
                timeout_secs: None,
                status: MemberStatus::Pending,
                runner_id: None,
            },
        )
        .unwrap();
    }
    let (claimed, trips) = warm(&proxy, || {
        s.claim_pending_members(&runner.id, None, 2).unwrap()
    });
    assert_eq!(claimed.len(), 2, "{claimed:?}");
    assert!(claimed.iter().all(|m| m.status == MemberStatus::Running));
    report.push((
        "claim a batch of pending members (claim_pending_members)",
        trips,
    ));
    // The CLI's inbox take: a lease, then its acknowledgement.
    send(Recipient::Member(b.clone()), None);
    let (leased, trips) = warm(&proxy, || {
        send(Recipient::Member(b.clone()), None);
        proxy.take();
        s.lease_inbox(&t.id, &b, 30_000).unwrap()
    });
    report.push(("leased inbox take (lease_inbox)", trips));
    let (_, trips) = warm(&proxy, || s.ack_inbox(&t.id, &b, &leased.lease).unwrap());
    report.push(("acknowledgement (ack_inbox)", trips));

    // What the one-statement writes wrote is what the transaction path writes.
    let events = s.list_events(Some(&t.id), 0, 10_000).unwrap();
    let last = |kind: &str| {
        events
            .iter()
            .rev()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} event"))
            .payload
            .clone()
    };
    let sent = events
        .iter()
        .rev()
        .find(|e| e.kind == "message.sent" && e.payload["broadcast"] == true)
        .expect("a broadcast's event")
        .payload
        .clone();
    assert_eq!(sent["broadcast"], true, "{sent}");
    assert_eq!(sent["to"], serde_json::json!([a, b]), "{sent}");
    assert_eq!(sent["body"], "hello", "{sent}");
    assert_eq!(sent["kind"], "text", "{sent}");
    assert_eq!(sent["interrupt"], false, "{sent}");
    assert_eq!(sent["ids"].as_array().map(Vec::len), Some(2), "{sent}");
    let leased = last("message.leased");
    assert_eq!(leased["lease_ms"], 30_000, "{leased}");
    assert_eq!(last("task.claimed")["lease_ms"], 600_000);

    let text: Vec<String> = report
        .iter()
        .map(|(name, trips)| {
            format!(
                "{name}: {} round trip(s)\n    {}",
                trips.len(),
                trips.join("\n    ")
            )
        })
        .collect();
    eprintln!("{}", text.join("\n"));
    let over: Vec<&str> = report
        .iter()
        .filter(|(_, trips)| trips.len() != 1)
        .map(|(name, _)| *name)
        .collect();
    assert!(
        over.is_empty(),
        "not one round trip: {over:?}\n{}",
        text.join("\n")
    );
}

/// A command (`team send`) opens the store and sends: one connection (the one that checked
/// the migrations serves the operations), and the migrations are checked in one read.
#[test]
fn a_command_connects_once_on_postgres() {
    let Some((schema, _proxy, s)) = proxied() else {
        return;
    };
    let t = s
        .create_team(&NewTeam {
            name: TeamName::new("cmd").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap()
        .0;
    let a = new_member(&s, &t.id, "alpha");
    drop(s);
    let (proxy, via) = proxy_to(&schema);
    let s = Store::open(&via).unwrap();
    let team = s.resolve_team("cmd").unwrap();
    s.send_message(
        &team.id,
        &Outgoing {
            from: "lead",
            to: Recipient::Member(a),
            kind: MessageKind::Text,
            body: "hello",
        },
    )
    .unwrap();
    let connections = proxy.wire.lock().unwrap().connections;
    let trips = proxy.take();
    eprintln!(
        "{connections} connection(s), {} round trip(s):\n    {}",
        trips.len(),
        trips.join("\n    ")
    );
    assert_eq!(connections, 1, "{trips:#?}");
    // Start-up (diesel's two SETs), the migration check, resolve_team (prepare, run), the
    // send (prepare, run).
    assert!(trips.len() <= 7, "{trips:#?}");
}

// A batch of member ends (a fan-out's members answering together) costs a handful of round
// trips, not ~12 per member (issue 19): the team locked and read once, the members in one
// query, the writes of every end in one statement, one look for `[ALL MEMBERS DONE]`.
#[test]
fn a_batch_of_member_ends_is_a_few_round_trips_on_postgres() {
    let Some((_schema, proxy, s)) = proxied() else {
        return;
    };
    let t = s
        .create_team(&NewTeam {
            name: TeamName::new("ends").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap()
        .0;
    let names: Vec<String> = (0..24).map(|_| new_member(&s, &t.id, "worker")).collect();
    let end = |name: &String| team_store::MemberEnd {
        team_id: t.id.clone(),
        name: name.clone(),
        outcome: team_store::Outcome::Completed("done".into()),
        progress: team_store::Progress {
            turns: 1,
            tokens_in: 10,
            tokens_out: 2,
            pid: Some(None),
            events: vec![("provider.call".to_owned(), serde_json::json!({"call": 1}))],
        },
        attempt: Some(1),
    };
    // The first batch prepares the statements on the pooled connection.
    let ends: Vec<_> = names[..4].iter().map(end).collect();
    assert!(s.finish_members(&ends).unwrap().iter().all(Result::is_ok));
    proxy.take();
    let ends: Vec<_> = names[4..].iter().map(end).collect();
    let results = s.finish_members(&ends).unwrap();
    let trips = proxy.take();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(results.last().unwrap().as_ref().unwrap().all_done);
    eprintln!(
        "{} round trip(s):\n    {}",
        trips.len(),
        trips.join("\n    ")
    );
    // 11 for the ends, 5 more for `[ALL MEMBERS DONE]` (the statuses read, its delivery
    // prepared and run, `pg_notify`); one by one it was ~12 per member.
    assert!(trips.len() <= 18, "{trips:#?}");
}

/// A batched claim (`Store::claim_tasks`, `team task claim --count K`) is one round trip for
/// the whole batch on a warm connection (one statement: pick, updates, an event per task),
/// and its events are those of single claims.
#[test]
fn a_batch_claim_is_one_round_trip_on_postgres() {
    let Some((_schema, proxy, s)) = proxied() else {
        return;
    };
    let t = s
        .create_team(&NewTeam {
            name: TeamName::new("batch").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap()
        .0;
    let a = new_member(&s, &t.id, "alpha");
    for i in 0..20 {
        s.add_task(
            &t.id,
            &NewTask {
                title: format!("task {i}"),
                ..NewTask::default()
            },
        )
        .unwrap();
    }
    let (got, trips) = warm(&proxy, || {
        s.claim_tasks(&t.id, &a, 8, Some(600_000), None).unwrap()
    });
    assert_eq!(
        got.iter().map(|t| t.id).collect::<Vec<_>>(),
        (9..=16).collect::<Vec<i64>>()
    );
    assert_eq!(trips.len(), 1, "{trips:#?}");
    let events: Vec<_> = s
        .list_events(Some(&t.id), 0, 10_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "task.claimed")
        .map(|e| e.payload)
        .collect();
    assert_eq!(
        events,
        (1..=16)
            .map(|id| serde_json::json!({"task": id, "lease_ms": 600_000}))
            .collect::<Vec<_>>()
    );
}

/// A short command as `team send` and `team inbox` open it (the connection started early,
/// statements unnamed): still one connection, and each statement one round trip, where a
/// named statement costs two on a fresh connection (Parse, then Bind/Execute).
#[test]
fn a_one_shot_command_sends_each_statement_in_one_round_trip() {
    let Some((schema, _proxy, s)) = proxied() else {
        return;
    };
    let t = s
        .create_team(&NewTeam {
            name: TeamName::new("shot").unwrap(),
            lead_agent: AgentName::new("lead").unwrap(),
            workflow: None,
            project_root: "/proj".into(),
            owner: None,
        })
        .unwrap()
        .0;
    let a = new_member(&s, &t.id, "alpha");
    drop(s);
    let opts = team_store::OpenOptions {
        prepare_statements: false,
        ..team_store::OpenOptions::default()
    };
    let (proxy, via) = proxy_to(&schema);
    let open =
        || Store::open_preconnected(&via, &opts, team_store::Preconnect::start(&via)).unwrap();
    let report = |what: &str, trips: &[String]| {
        eprintln!(
            "{what}: {} round trip(s):\n    {}",
            trips.len(),
            trips.join("\n    ")
        );
    };
    // `team send`: diesel's two SETs, the migration check, resolve_team, the send.
    let s = open();
    let team = s.resolve_team("shot").unwrap();
    s.send_message(
        &team.id,
        &Outgoing {
            from: "lead",
            to: Recipient::Member(a.clone()),
            kind: MessageKind::Text,
            body: "hello",
        },
    )
    .unwrap();
    drop(s);
    let trips = proxy.take();
    report("send", &trips);
    assert_eq!(proxy.wire.lock().unwrap().connections, 1, "{trips:#?}");
    assert_eq!(trips.len(), 5, "{trips:#?}");
    assert!(
        trips.iter().all(|t| !t.contains("__diesel_stmt")),
        "{trips:#?}"
    );
    // `team inbox`: the same start, then the lease and its acknowledgement.
    let s = open();
    let team = s.resolve_team("shot").unwrap();
    let lease = s.lease_inbox(&team.id, &a, 60_000).unwrap();
    assert_eq!(lease.messages.len(), 1);
    s.ack_inbox(&team.id, &a, &lease.lease).unwrap();
    drop(s);
    let trips = proxy.take();
    report("inbox", &trips);
    assert_eq!(proxy.wire.lock().unwrap().connections, 2, "{trips:#?}");
    assert_eq!(trips.len(), 6, "{trips:#?}");
}
