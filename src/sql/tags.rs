//! PostgreSQL's command tags (`CreateCommandTag`): the name of each kind of
//! statement as CommandComplete reports it ("CREATE TABLE", "DROP INDEX"). Quill
//! also uses them to name statements it does not support yet.

use pg_query::protobuf::{ObjectType, TransactionStmtKind};
use pg_query::NodeEnum;

/// The object word PostgreSQL puts in DROP/ALTER/CREATE tags.
fn object_name(object_type: i32) -> &'static str {
    use ObjectType as O;
    match O::try_from(object_type).unwrap_or(O::Undefined) {
        O::ObjectTable => "TABLE",
        O::ObjectIndex => "INDEX",
        O::ObjectSequence => "SEQUENCE",
        O::ObjectView => "VIEW",
        O::ObjectMatview => "MATERIALIZED VIEW",
        O::ObjectForeignTable => "FOREIGN TABLE",
        O::ObjectSchema => "SCHEMA",
        O::ObjectFunction => "FUNCTION",
        O::ObjectProcedure => "PROCEDURE",
        O::ObjectRoutine => "ROUTINE",
        O::ObjectAggregate => "AGGREGATE",
        O::ObjectType => "TYPE",
        O::ObjectDomain => "DOMAIN",
        O::ObjectExtension => "EXTENSION",
        O::ObjectDatabase => "DATABASE",
        O::ObjectRole => "ROLE",
        O::ObjectTrigger => "TRIGGER",
        O::ObjectRule => "RULE",
        O::ObjectPolicy => "POLICY",
        O::ObjectCollation => "COLLATION",
        O::ObjectConversion => "CONVERSION",
        O::ObjectOperator => "OPERATOR",
        O::ObjectLanguage => "LANGUAGE",
        O::ObjectCast => "CAST",
        O::ObjectPublication => "PUBLICATION",
        O::ObjectSubscription => "SUBSCRIPTION",
        O::ObjectStatisticExt => "STATISTICS",
        O::ObjectTablespace => "TABLESPACE",
        O::ObjectForeignServer => "SERVER",
        O::ObjectEventTrigger => "EVENT TRIGGER",
        O::ObjectAccessMethod => "ACCESS METHOD",
        O::ObjectTsconfiguration => "TEXT SEARCH CONFIGURATION",
        O::ObjectTsdictionary => "TEXT SEARCH DICTIONARY",
        _ => "OBJECT",
    }
}

fn transaction_tag(kind: i32) -> &'static str {
    use TransactionStmtKind::*;
    match TransactionStmtKind::try_from(kind).unwrap_or(Undefined) {
        TransStmtBegin => "BEGIN",
        TransStmtStart => "START TRANSACTION",
        TransStmtCommit => "COMMIT",
        TransStmtRollback | TransStmtRollbackTo => "ROLLBACK",
        TransStmtSavepoint => "SAVEPOINT",
        TransStmtRelease => "RELEASE",
        TransStmtPrepare => "PREPARE TRANSACTION",
        TransStmtCommitPrepared => "COMMIT PREPARED",
        TransStmtRollbackPrepared => "ROLLBACK PREPARED",
        Undefined => "???",
    }
}

/// The command tag of a statement (without row counts).
pub fn command_tag(node: &NodeEnum) -> &'static str {
    use NodeEnum::*;
    match node {
        SelectStmt(_) => "SELECT",
        InsertStmt(_) => "INSERT",
        UpdateStmt(_) => "UPDATE",
        DeleteStmt(_) => "DELETE",
        MergeStmt(_) => "MERGE",
        TransactionStmt(t) => transaction_tag(t.kind),
        VariableSetStmt(s) if s.kind >= 5 => "RESET",
        VariableSetStmt(_) => "SET",
        VariableShowStmt(_) => "SHOW",
        other => ddl_tag(other),
    }
}

/// Tags of schema and maintenance statements.
fn ddl_tag(node: &NodeEnum) -> &'static str {
    use NodeEnum::*;
    match node {
        CreateStmt(_) => "CREATE TABLE",
        CreateTableAsStmt(c) if c.is_select_into => "SELECT",
        CreateTableAsStmt(c) if c.objtype == ObjectType::ObjectMatview as i32 => {
            "CREATE MATERIALIZED VIEW"
        }
        CreateTableAsStmt(_) => "CREATE TABLE AS",
        DropStmt(d) => drop_tag(d.remove_type),
        AlterTableStmt(a) => alter_tag(a.objtype),
        RenameStmt(r) => alter_tag(r.rename_type),
        IndexStmt(_) => "CREATE INDEX",
        ViewStmt(_) => "CREATE VIEW",
        CreateSeqStmt(_) => "CREATE SEQUENCE",
        AlterSeqStmt(_) => "ALTER SEQUENCE",
        CreateSchemaStmt(_) => "CREATE SCHEMA",
        CreatedbStmt(_) => "CREATE DATABASE",
        DropdbStmt(_) => "DROP DATABASE",
        AlterDatabaseStmt(_) | AlterDatabaseSetStmt(_) => "ALTER DATABASE",
        CreateFunctionStmt(f) if f.is_procedure => "CREATE PROCEDURE",
        CreateFunctionStmt(_) => "CREATE FUNCTION",
        CreateRoleStmt(_) => "CREATE ROLE",
        AlterRoleStmt(_) | AlterRoleSetStmt(_) => "ALTER ROLE",
        DropRoleStmt(_) => "DROP ROLE",
        GrantStmt(g) if g.is_grant => "GRANT",
        GrantStmt(_) => "REVOKE",
        GrantRoleStmt(g) if g.is_grant => "GRANT ROLE",
        GrantRoleStmt(_) => "REVOKE ROLE",
        CreateExtensionStmt(_) => "CREATE EXTENSION",
        CreateTrigStmt(_) => "CREATE TRIGGER",
        CreateDomainStmt(_) => "CREATE DOMAIN",
        CompositeTypeStmt(_) | CreateEnumStmt(_) | CreateRangeStmt(_) => "CREATE TYPE",
        DefineStmt(_) => "CREATE OBJECT",
        CommentStmt(_) => "COMMENT",
        TruncateStmt(_) => "TRUNCATE TABLE",
        CopyStmt(_) => "COPY",
        ExplainStmt(_) => "EXPLAIN",
        VacuumStmt(v) if v.is_vacuumcmd => "VACUUM",
        VacuumStmt(_) => "ANALYZE",
        ClusterStmt(_) => "CLUSTER",
        ReindexStmt(_) => "REINDEX",
        CheckPointStmt(_) => "CHECKPOINT",
        LockStmt(_) => "LOCK TABLE",
        other => session_tag(other),
    }
}

/// Tags of session-level and miscellaneous statements.
fn session_tag(node: &NodeEnum) -> &'static str {
    use NodeEnum::*;
    match node {
        ListenStmt(_) => "LISTEN",
        UnlistenStmt(_) => "UNLISTEN",
        NotifyStmt(_) => "NOTIFY",
        DoStmt(_) => "DO",
        CallStmt(_) => "CALL",
        PrepareStmt(_) => "PREPARE",
        ExecuteStmt(_) => "EXECUTE",
        DeallocateStmt(d) if d.isall => "DEALLOCATE ALL",
        DeallocateStmt(_) => "DEALLOCATE",
        DeclareCursorStmt(_) => "DECLARE CURSOR",
        FetchStmt(f) if f.ismove => "MOVE",
        FetchStmt(_) => "FETCH",
        ClosePortalStmt(c) if c.portalname.is_empty() => "CLOSE CURSOR ALL",
        ClosePortalStmt(_) => "CLOSE CURSOR",
        DiscardStmt(d) => match d.target {
            2 => "DISCARD PLANS",
            3 => "DISCARD SEQUENCES",
            4 => "DISCARD TEMP",
            _ => "DISCARD ALL",
        },
        ConstraintsSetStmt(_) => "SET CONSTRAINTS",
        RefreshMatViewStmt(_) => "REFRESH MATERIALIZED VIEW",
        AlterSystemStmt(_) => "ALTER SYSTEM",
        LoadStmt(_) => "LOAD",
        RuleStmt(_) => "CREATE RULE",
        CreatePolicyStmt(_) => "CREATE POLICY",
        CreateTableSpaceStmt(_) => "CREATE TABLESPACE",
        DropTableSpaceStmt(_) => "DROP TABLESPACE",
        AlterOwnerStmt(_) | AlterObjectSchemaStmt(_) | AlterFunctionStmt(_) => "ALTER OBJECT",
        CreatePublicationStmt(_) => "CREATE PUBLICATION",
        CreateSubscriptionStmt(_) => "CREATE SUBSCRIPTION",
        CreateStatsStmt(_) => "CREATE STATISTICS",
        SecLabelStmt(_) => "SECURITY LABEL",
        ReassignOwnedStmt(_) => "REASSIGN OWNED",
        DropOwnedStmt(_) => "DROP OWNED",
        _ => "this statement",
    }
}

fn drop_tag(object_type: i32) -> &'static str {
    match object_name(object_type) {
        "TABLE" => "DROP TABLE",
        "INDEX" => "DROP INDEX",
        "SEQUENCE" => "DROP SEQUENCE",
        "VIEW" => "DROP VIEW",
        "MATERIALIZED VIEW" => "DROP MATERIALIZED VIEW",
        "SCHEMA" => "DROP SCHEMA",
        "FUNCTION" => "DROP FUNCTION",
        "PROCEDURE" => "DROP PROCEDURE",
        "TYPE" => "DROP TYPE",
        "DOMAIN" => "DROP DOMAIN",
        "EXTENSION" => "DROP EXTENSION",
        "TRIGGER" => "DROP TRIGGER",
        "FOREIGN TABLE" => "DROP FOREIGN TABLE",
        "RULE" => "DROP RULE",
        "POLICY" => "DROP POLICY",
        "AGGREGATE" => "DROP AGGREGATE",
        _ => "DROP OBJECT",
    }
}

fn alter_tag(object_type: i32) -> &'static str {
    match object_name(object_type) {
        "TABLE" => "ALTER TABLE",
        "INDEX" => "ALTER INDEX",
        "SEQUENCE" => "ALTER SEQUENCE",
        "VIEW" => "ALTER VIEW",
        "MATERIALIZED VIEW" => "ALTER MATERIALIZED VIEW",
        "SCHEMA" => "ALTER SCHEMA",
        "FUNCTION" => "ALTER FUNCTION",
        "TYPE" => "ALTER TYPE",
        "DATABASE" => "ALTER DATABASE",
        "ROLE" => "ALTER ROLE",
        "FOREIGN TABLE" => "ALTER FOREIGN TABLE",
        "TRIGGER" => "ALTER TRIGGER",
        _ => "ALTER OBJECT",
    }
}
