//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::path::Path;

use drydock_core::{
    Author, AuthorAssociation, Issue, IssueSource, Limits, RepoRef, Task, TaskKind, TaskSpec,
};
use sqlx::{Connection, SqliteConnection};

/// A queued task with a recognisable title.
pub fn task(title: &str) -> Task {
    Task::new(TaskSpec {
        kind: TaskKind::NewTask,
        repo: RepoRef {
            location: "/srv/repos/pager".into(),
            name: "pager".into(),
        },
        issue: Issue::from_text(
            &format!("# {title}\n\nThe pager skips the last page."),
            Author {
                login: "ada".into(),
                association: AuthorAssociation::Member,
            },
            IssueSource::Text,
        ),
        model: "scripted:demo".into(),
        limits: Limits::default(),
    })
}

/// A raw connection to the database file, as an operator (or an attacker) with `sqlite3` has.
pub async fn raw(path: &Path) -> SqliteConnection {
    let url = format!("sqlite://{}", path.display());
    SqliteConnection::connect(&url).await.unwrap()
}

/// Runs raw SQL statements on the file, with the append-only triggers dropped first.
pub async fn tamper(path: &Path, statements: &[&str]) {
    let mut conn = raw(path).await;
    sqlx::raw_sql(
        "DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_string()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|err| panic!("{statement}: {err}"));
    }
    conn.close().await.unwrap();
}
