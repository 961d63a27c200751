-- Read-only role for analysts, dashboards and the investigate flow.
-- NOLOGIN: grant it to a login role (GRANT webtrail_reader TO alice) instead of giving it a password
-- here. Roles are cluster-wide, so it is created only when missing; the grants are per database.
-- A migrating account without CREATEROLE (usual on managed PostgreSQL) skips the role with a notice:
-- an administrator can create it later and re-grant with the statements below.
DO $$
DECLARE
    may_create boolean := (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'webtrail_reader') THEN
        IF NOT may_create THEN
            RAISE NOTICE 'webtrail_reader not created: % lacks CREATEROLE', current_user;
            RETURN;
        END IF;
        CREATE ROLE webtrail_reader NOLOGIN;
    END IF;
    GRANT USAGE ON SCHEMA webtrail TO webtrail_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA webtrail TO webtrail_reader;
    -- Tables created later by the migrating role are readable too.
    ALTER DEFAULT PRIVILEGES IN SCHEMA webtrail GRANT SELECT ON TABLES TO webtrail_reader;
END
$$;
