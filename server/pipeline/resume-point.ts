// Where a subscription resumes after a reconnect: just after the last frame the consumer decoded. The pipeline
// moves it as it decodes; the source reads it when it (re)connects. A plain value both read, so neither has to
// call the other back.
export type ResumePoint = { seq: number | null }
