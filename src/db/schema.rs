//! Table definitions shared by both backends. Only types both store alike appear here (no native UUID),
//! which is why ids are `Text`.

diesel::table! {
    incidents (id) {
        id -> Text,
        reference -> Nullable<Text>,
        title -> Text,
        summary -> Nullable<Text>,
        severity -> Text,
        category -> Nullable<Text>,
        status -> Text,
        detected_at -> Nullable<Timestamp>,
        contained_at -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        discovered_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        created_by -> Text,
        updated_by -> Text,
        business_impact -> Nullable<Text>,
        affected_systems -> Text,
        data_exposed -> Text,
        records_exposed -> Nullable<BigInt>,
        downtime_minutes -> Nullable<BigInt>,
        people_affected -> Nullable<BigInt>,
        cost_minor_units -> Nullable<BigInt>,
        cost_currency -> Nullable<Text>,
        notification -> Nullable<Text>,
        root_cause -> Nullable<Text>,
        root_cause_category -> Nullable<Text>,
        contributing_factors -> Text,
        attack_vector -> Nullable<Text>,
        attack_techniques -> Text,
    }
}

diesel::table! {
    actions (id) {
        id -> Text,
        number -> BigInt,
        incident_id -> Text,
        title -> Text,
        description -> Nullable<Text>,
        owner_email -> Text,
        owner_name -> Nullable<Text>,
        team -> Nullable<Text>,
        due_date -> Date,
        priority -> SmallInt,
        category -> Text,
        status -> Text,
        resolution -> Nullable<Text>,
        completed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        created_by -> Text,
        updated_by -> Text,
        snoozed_until -> Nullable<Date>,
        review_id -> Nullable<Text>,
        verified_at -> Nullable<Timestamp>,
        verified_by -> Nullable<Text>,
        verification_evidence -> Nullable<Text>,
        tags -> Text,
        external_refs -> Text,
        owner_inactive -> Bool,
    }
}

diesel::table! {
    action_tags (action_id, tag) {
        action_id -> Text,
        tag -> Text,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        entity_type -> Text,
        entity_id -> Text,
        kind -> Text,
        actor_sub -> Text,
        actor_email -> Nullable<Text>,
        occurred_at -> Timestamp,
        request_id -> Nullable<Text>,
        changes -> Text,
        reason -> Nullable<Text>,
        seq -> BigInt,
    }
}

diesel::table! {
    comments (id) {
        id -> Text,
        action_id -> Text,
        author_sub -> Text,
        author_email -> Nullable<Text>,
        author_name -> Nullable<Text>,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    deliveries (id) {
        id -> Text,
        recipient -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        message_id -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        recipient_name -> Nullable<Text>,
    }
}

diesel::table! {
    reminders (id) {
        id -> Text,
        action_id -> Text,
        kind -> Text,
        period -> Text,
        recipient -> Text,
        delivery_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    reviews (id) {
        id -> Text,
        incident_id -> Text,
        status -> Text,
        scheduled_for -> Nullable<Timestamp>,
        held_at -> Nullable<Timestamp>,
        facilitator_email -> Nullable<Text>,
        scribe_email -> Nullable<Text>,
        attendees -> Text,
        agenda -> Nullable<Text>,
        answers -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        created_by -> Text,
        updated_by -> Text,
    }
}

diesel::table! {
    timeline_entries (id) {
        id -> Text,
        incident_id -> Text,
        occurred_at -> Timestamp,
        description -> Text,
        source -> Nullable<Text>,
        kind -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        created_by -> Text,
        updated_by -> Text,
    }
}

diesel::table! {
    evidence (id) {
        id -> Text,
        incident_id -> Text,
        description -> Text,
        kind -> Text,
        location -> Text,
        sha256 -> Nullable<Text>,
        collected_by -> Text,
        collected_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        created_by -> Text,
        updated_by -> Text,
    }
}

diesel::table! {
    custody_entries (id) {
        id -> Text,
        evidence_id -> Text,
        from_holder -> Nullable<Text>,
        to_holder -> Text,
        transferred_at -> Timestamp,
        purpose -> Text,
        recorded_at -> Timestamp,
        recorded_by -> Text,
    }
}

diesel::table! {
    effort_entries (id) {
        id -> Text,
        incident_id -> Text,
        person -> Text,
        phase -> Text,
        minutes -> BigInt,
        performed_on -> Nullable<Date>,
        note -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        created_by -> Text,
        updated_by -> Text,
    }
}

diesel::table! {
    people (email) {
        email -> Text,
        name -> Nullable<Text>,
        manager_email -> Nullable<Text>,
        timezone -> Nullable<Text>,
        active -> SmallInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        created_by -> Text,
        updated_by -> Text,
    }
}

diesel::table! {
    review_reminders (id) {
        id -> Text,
        incident_id -> Text,
        kind -> Text,
        period -> Text,
        recipient -> Text,
        delivery_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    action_refs (system, key) {
        system -> Text,
        key -> Text,
        action_id -> Text,
        url -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (principal, key) {
        principal -> Text,
        key -> Text,
        request_hash -> Text,
        status -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        locked_until -> Timestamp,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        url -> Text,
        secret -> Text,
        events -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        webhook_id -> Text,
        event_type -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// What changes to actions added to and took from the tallies, not folded in yet (see db::tallies).
    action_tally_changes (id) {
        id -> BigInt,
        status -> Text,
        priority -> SmallInt,
        category -> Text,
        due_date -> Date,
        owner_email -> Text,
        on_time -> SmallInt,
        close_seconds -> Nullable<BigInt>,
        n -> BigInt,
    }
}

diesel::table! {
    action_tallies_by_due (status, due_date, on_time) {
        status -> Text,
        due_date -> Date,
        on_time -> SmallInt,
        n -> BigInt,
    }
}

diesel::table! {
    action_tallies_by_kind (status, priority, category) {
        status -> Text,
        priority -> SmallInt,
        category -> Text,
        n -> BigInt,
    }
}

diesel::table! {
    action_tallies_by_close (close_bucket) {
        close_bucket -> BigInt,
        n -> BigInt,
    }
}

diesel::table! {
    owner_tallies (owner_email) {
        owner_email -> Text,
        open -> BigInt,
        overdue -> BigInt,
    }
}

diesel::table! {
    tally_state (id) {
        id -> SmallInt,
        as_of -> Nullable<Date>,
    }
}

diesel::table! {
    indicators (id) {
        id -> Text,
        incident_id -> Text,
        kind -> Text,
        value -> Text,
        tlp -> Text,
        confidence -> Nullable<Integer>,
        first_seen -> Nullable<Timestamp>,
        last_seen -> Nullable<Timestamp>,
        source -> Nullable<Text>,
        description -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        created_by -> Text,
        updated_by -> Text,
    }
}

diesel::joinable!(actions -> incidents (incident_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(action_refs -> actions (action_id));
diesel::joinable!(reviews -> incidents (incident_id));
diesel::joinable!(timeline_entries -> incidents (incident_id));
diesel::joinable!(indicators -> incidents (incident_id));
diesel::joinable!(evidence -> incidents (incident_id));
diesel::joinable!(custody_entries -> evidence (evidence_id));
diesel::joinable!(effort_entries -> incidents (incident_id));
diesel::joinable!(review_reminders -> incidents (incident_id));
diesel::joinable!(review_reminders -> deliveries (delivery_id));
diesel::joinable!(reminders -> actions (action_id));
diesel::joinable!(reminders -> deliveries (delivery_id));
diesel::joinable!(comments -> actions (action_id));
diesel::joinable!(action_tags -> actions (action_id));
diesel::allow_tables_to_appear_in_same_query!(
    incidents,
    actions,
    action_tags,
    events,
    comments,
    deliveries,
    reminders,
    reviews,
    timeline_entries,
    indicators,
    evidence,
    custody_entries,
    effort_entries,
    people,
    review_reminders,
    action_refs,
    idempotency_keys,
    webhooks,
    webhook_deliveries,
);
