-- A form submitted by the model's tool call is keyed `conversation:tool_call_id`, like an action's
-- run (automations/form_submissions.py): a turn asked again never submits twice. Submissions
-- through `POST /api/forms/submit` have no key.
ALTER TABLE form_submissions ADD COLUMN tool_key text;
CREATE UNIQUE INDEX form_submissions_tool_key ON form_submissions (business_id, tool_key) WHERE tool_key IS NOT NULL;
