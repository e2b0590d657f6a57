/** Public entry of the engine library. */
export * from './backend';
export { tf } from './tf';
