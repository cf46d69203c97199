-- Register the sample schema with graphsync: workspaces are the tenants.
SELECT graph.add_table('app.workspaces', columns => '{name}', tenant_column => 'id');
SELECT graph.add_table('app.companies', columns => '{name}', tenant_column => 'workspace_id');
SELECT graph.add_table('app.contacts', columns => '{name,email}', tenant_column => 'workspace_id');
SELECT graph.add_table('app.projects', columns => '{name}', tenant_column => 'workspace_id');
SELECT graph.add_table('app.tasks', columns => '{title}', tenant_column => 'workspace_id');
SELECT graph.add_table('app.deals', columns => '{title,amount}', tenant_column => 'workspace_id');
SELECT graph.add_filter_column('app.projects', 'status');
SELECT graph.add_filter_column('app.tasks', 'status');
SELECT graph.add_edge('app.contacts', 'company_id', 'app.companies', label => 'works_at');
SELECT graph.add_edge('app.tasks', 'project_id', 'app.projects', label => 'in_project');
SELECT graph.add_edge('app.tasks', 'assignee', 'app.contacts', label => 'assigned_to');
SELECT graph.add_edge('app.deals', 'contact_id', 'app.contacts', label => 'deal_with');
SELECT graph.add_edge('app.companies', 'workspace_id', 'app.workspaces', label => 'in_workspace');
SELECT graph.add_edge(
    'app.contacts', 'source_id', 'app.contacts', to_column => 'target_id',
    via_table => 'app.relations', weight_column => 'weight', label_column => 'type',
    bidirectional => true
);
