-- Read-only role for analysts, dashboards and the investigate flow.
-- NOLOGIN: grant it to a login role (GRANT webtrail_reader TO alice) instead of giving it a password
-- here. Roles are cluster-wide, so it is created only when missing; the grants are per database.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'webtrail_reader') THEN
        CREATE ROLE webtrail_reader NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA webtrail TO webtrail_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA webtrail TO webtrail_reader;
-- Tables created later by the migrating role are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA webtrail GRANT SELECT ON TABLES TO webtrail_reader;
