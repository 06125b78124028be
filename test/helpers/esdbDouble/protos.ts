/**
 * The client package's own generated gRPC service definitions and messages: the double serves exactly
 * the wire contract the client was generated from. The message modules are CommonJS without static
 * named exports, hence the default imports.
 */
import { createRequire } from 'node:module';
import gossipPb from '@eventstore/db-client/generated/gossip_pb.js';
import serverFeaturesPb from '@eventstore/db-client/generated/serverfeatures_pb.js';
import sharedPb from '@eventstore/db-client/generated/shared_pb.js';
import statusPb from '@eventstore/db-client/generated/status_pb.js';
import streamsPb from '@eventstore/db-client/generated/streams_pb.js';

export { GossipService } from '@eventstore/db-client/generated/gossip_grpc_pb.js';
export { ServerFeaturesService } from '@eventstore/db-client/generated/serverfeatures_grpc_pb.js';
export { StreamsService } from '@eventstore/db-client/generated/streams_grpc_pb.js';
export { gossipPb, serverFeaturesPb, sharedPb, statusPb, streamsPb };

// google-protobuf's well-known types, resolved the way the generated code resolves them (it is the
// client's dependency, not ours), so both sides share one copy.
const requireFromClient = createRequire(createRequire(import.meta.url).resolve('@eventstore/db-client'));
type AnyMessage = NonNullable<ReturnType<InstanceType<typeof statusPb.Status>['getDetails']>>;
type EmptyMessage = NonNullable<ReturnType<InstanceType<typeof streamsPb.BatchAppendResp>['getNoStream']>>;

export const ProtobufAny: new () => AnyMessage = requireFromClient(
  'google-protobuf/google/protobuf/any_pb.js',
).Any;
export const ProtobufEmpty: new () => EmptyMessage = requireFromClient(
  'google-protobuf/google/protobuf/empty_pb.js',
).Empty;
