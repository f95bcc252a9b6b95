-- Provider faults of a call (TTS fell back, the LLM timed out, STT was lost...): what the
-- caller's experience went through, shown by GET /api/calls/{id}. Written in the background
-- by the call's recorder, never on the audio path.
CREATE TABLE call_faults (
    call_id uuid NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    stage   text NOT NULL CHECK (stage IN ('stt', 'llm', 'tts')),
    kind    text NOT NULL,
    at      timestamptz NOT NULL,
    detail  text NOT NULL DEFAULT '',
    PRIMARY KEY (call_id, seq)
);
