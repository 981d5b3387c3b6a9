//! The Diesel schema, hand-written with types both backends share (see `migrations/`).
#![allow(missing_docs)]

diesel::table! {
    runners (id) {
        id -> Text,
        pid -> BigInt,
        host -> Text,
        max_agents -> BigInt,
        started_at_ms -> BigInt,
        heartbeat_at_ms -> BigInt,
        stopped_at_ms -> Nullable<BigInt>,
        heartbeat_ms -> BigInt,
        env_fingerprint -> Nullable<Text>,
        version -> Nullable<Text>,
        stop_requested_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    teams (id) {
        id -> Text,
        name -> Text,
        status -> Text,
        lead_agent -> Text,
        workflow -> Nullable<Text>,
        project_root -> Text,
        runner_id -> Nullable<Text>,
        owner_pid -> Nullable<BigInt>,
        owner_host -> Nullable<Text>,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
        ended_at_ms -> Nullable<BigInt>,
        reason -> Nullable<Text>,
        next_task_id -> BigInt,
        max_tokens -> Nullable<BigInt>,
        max_usd -> Nullable<Double>,
        budget_team_id -> Nullable<Text>,
    }
}

diesel::table! {
    members (id) {
        id -> BigInt,
        team_id -> Text,
        name -> Text,
        agent -> Text,
        role -> Text,
        status -> Text,
        prompt -> Nullable<Text>,
        persistent -> Bool,
        timeout_secs -> Nullable<BigInt>,
        runner_id -> Nullable<Text>,
        pid -> Nullable<BigInt>,
        created_at_ms -> BigInt,
        started_at_ms -> Nullable<BigInt>,
        updated_at_ms -> BigInt,
        ended_at_ms -> Nullable<BigInt>,
        result -> Nullable<Text>,
        error -> Nullable<Text>,
        turns -> BigInt,
        tokens_in -> BigInt,
        tokens_out -> BigInt,
        busy_ms -> BigInt,
        agent_def -> Nullable<Text>,
        agent_source -> Nullable<Text>,
        env_fingerprint -> Nullable<Text>,
        attempt -> BigInt,
        max_attempts -> BigInt,
        retry_backoff_ms -> BigInt,
        not_before_ms -> Nullable<BigInt>,
        on_ask -> Nullable<Text>,
    }
}

diesel::table! {
    tasks (team_id, id) {
        team_id -> Text,
        id -> BigInt,
        title -> Text,
        description -> Nullable<Text>,
        status -> Text,
        assignee -> Nullable<Text>,
        result -> Nullable<Text>,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
        lease_until_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    task_deps (team_id, task_id, blocker_id) {
        team_id -> Text,
        task_id -> BigInt,
        blocker_id -> BigInt,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        team_id -> Text,
        sender -> Text,
        recipient -> Text,
        kind -> Text,
        body -> Text,
        broadcast -> Bool,
        created_at_ms -> BigInt,
        delivered_at_ms -> Nullable<BigInt>,
        lease -> Nullable<Text>,
        lease_until_ms -> Nullable<BigInt>,
        body_of -> Nullable<BigInt>,
        send_key -> Nullable<Text>,
        interrupt -> Bool,
    }
}

diesel::table! {
    memories (agent, project_root) {
        agent -> Text,
        project_root -> Text,
        content -> Text,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        team_id -> Nullable<Text>,
        member -> Nullable<Text>,
        kind -> Text,
        payload -> Text,
        created_at_ms -> BigInt,
    }
}

diesel::table! {
    checkpoints (member_id) {
        member_id -> BigInt,
        team_id -> Text,
        seq -> BigInt,
        calls -> BigInt,
        turn_done -> Bool,
        messages -> Text,
        at_ms -> BigInt,
    }
}

diesel::table! {
    approvals (id) {
        id -> BigInt,
        team_id -> Text,
        member -> Text,
        kind -> Text,
        tool -> Text,
        arguments -> Text,
        summary -> Text,
        why -> Text,
        status -> Text,
        decided_by -> Nullable<Text>,
        reason -> Nullable<Text>,
        always -> Bool,
        created_at_ms -> BigInt,
        decided_at_ms -> Nullable<BigInt>,
    }
}

diesel::joinable!(members -> teams (team_id));

diesel::allow_tables_to_appear_in_same_query!(
    runners,
    teams,
    members,
    tasks,
    task_deps,
    messages,
    memories,
    events,
    checkpoints,
    approvals
);
