import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { gossipPb, serverFeaturesPb, sharedPb } from './protos.ts';

type Empty = InstanceType<typeof sharedPb.Empty>;

/** The server version the double reports; the docker-compose image is of the same line. */
export const DOUBLE_SERVER_VERSION = '23.10.1';

/**
 * ServerFeatures.GetSupportedMethods: the methods a node serves, lower-cased, with their feature flags
 * (server: Services/Transport/Grpc/ServerFeatures). The client asks once per connection and uses
 * BatchAppend when it is listed.
 */
export function supportedMethodsHandler() {
  const methods: [string, string, string[]][] = [
    ['event_store.client.streams.streams', 'read', ['position', 'events']],
    ['event_store.client.streams.streams', 'append', []],
    ['event_store.client.streams.streams', 'delete', []],
    ['event_store.client.streams.streams', 'tombstone', []],
    ['event_store.client.streams.streams', 'batchappend', ['deadline_duration']],
    ['event_store.client.gossip.gossip', 'read', []],
    ['event_store.client.server_features.serverfeatures', 'getsupportedmethods', []],
  ];
  return (_call: ServerUnaryCall<Empty, unknown>, callback: sendUnaryData<unknown>): void => {
    const supported = new serverFeaturesPb.SupportedMethods().setEventStoreServerVersion(
      DOUBLE_SERVER_VERSION,
    );
    supported.setMethodsList(
      methods.map(([service, method, features]) =>
        new serverFeaturesPb.SupportedMethod()
          .setServiceName(service)
          .setMethodName(method)
          .setFeaturesList(features),
      ),
    );
    callback(null, supported);
  };
}

/**
 * Gossip.Read: a single node that is alive and the leader, so discovery connection strings
 * (`esdb+discover://`) resolve to the double too (docs: Clients › Connecting › cluster discovery).
 */
export function gossipHandler(instanceId: string, host: () => string, port: () => number) {
  return (_call: ServerUnaryCall<Empty, unknown>, callback: sendUnaryData<unknown>): void => {
    const member = new gossipPb.MemberInfo()
      .setInstanceId(new sharedPb.UUID().setString(instanceId))
      .setTimeStamp(String(Date.now() * 10_000))
      .setState(gossipPb.MemberInfo.VNodeState.LEADER)
      .setIsAlive(true)
      .setHttpEndPoint(new gossipPb.EndPoint().setAddress(host()).setPort(port()));
    callback(null, new gossipPb.ClusterInfo().setMembersList([member]));
  };
}
