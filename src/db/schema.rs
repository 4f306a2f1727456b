//! Table definitions shared by both backends. Only types diesel's `MultiConnection` supports on every
//! backend appear here (no native UUID or boolean), which is why ids are `Text`.

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
    }
}

diesel::table! {
    action_tags (action_id, tag) {
        action_id -> Text,
        tag -> Text,
    }
}

diesel::joinable!(actions -> incidents (incident_id));
diesel::joinable!(action_tags -> actions (action_id));
diesel::allow_tables_to_appear_in_same_query!(incidents, actions, action_tags);
