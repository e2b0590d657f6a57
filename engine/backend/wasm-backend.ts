/**
 * The parts of tfjs-backend-wasm's BackendWasm that our kernels use: tfjs exports no type for it, so it is
 * described here once, for every kernel file (which otherwise would import each other for the type).
 */
import type { tf } from '../tf';

type TensorInfo = tf.TensorInfo;

export interface WasmBackend {
  wasm: {
    cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
    tfjs: { registerTensor(id: number, size: number, memoryOffset: number): void; disposeData(id: number): void };
  };
  dataIdMap: { get(dataId: unknown): { id: number; memoryOffset: number } };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  disposeData(dataId: unknown): boolean;
  incRef(dataId: unknown): void;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

