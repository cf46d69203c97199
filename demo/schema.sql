-- The sample work-management schema used by the demo and the tests.
CREATE SCHEMA IF NOT EXISTS app;

CREATE TABLE app.workspaces (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.companies (
    id int PRIMARY KEY, workspace_id int NOT NULL REFERENCES app.workspaces, name text NOT NULL
);
CREATE TABLE app.contacts (
    id int PRIMARY KEY, workspace_id int NOT NULL REFERENCES app.workspaces,
    name text NOT NULL, email text, company_id int REFERENCES app.companies
);
CREATE TABLE app.projects (
    id int PRIMARY KEY, workspace_id int NOT NULL REFERENCES app.workspaces,
    name text NOT NULL, status text NOT NULL DEFAULT 'open'
);
CREATE TABLE app.tasks (
    id int PRIMARY KEY, workspace_id int NOT NULL REFERENCES app.workspaces,
    title text NOT NULL, status text NOT NULL DEFAULT 'open',
    project_id int REFERENCES app.projects, assignee int REFERENCES app.contacts
);
CREATE TABLE app.deals (
    id int PRIMARY KEY, workspace_id int NOT NULL REFERENCES app.workspaces,
    title text NOT NULL, amount numeric(12, 2), contact_id int REFERENCES app.contacts
);
CREATE TABLE app.relations (
    id bigserial PRIMARY KEY,
    source_id int NOT NULL REFERENCES app.contacts,
    target_id int NOT NULL REFERENCES app.contacts,
    type text NOT NULL,
    weight numeric NOT NULL DEFAULT 1
);
