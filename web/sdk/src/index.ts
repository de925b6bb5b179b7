// tickwire's browser SDK: import everything from here.
//
//   messages  generated from the server's registry: types, schema, codecs
//   client    the WebSocket Client (login, typed handlers, RTT, stats, LOG)
//   auth      the auth service's HTTP API (register, login, password)
//   model     the replicated world (replica.Model in Go)
//   predict   prediction and reconciliation (replica.Predictor in Go)
//   interp    interpolation of remote entities
//   stats     rate and RTT estimators
export * from "./messages.js";
export * from "./client.js";
export * from "./auth.js";
export * from "./model.js";
export * from "./predict.js";
export * from "./interp.js";
export * from "./stats.js";
