// `embed_migrations!` reads the migration folders when the crate compiles; without this, a migration
// added since the last build would not be noticed by an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
