/** Stylesheets the build bundles as text (esbuild loader `text`). */
declare module '*.css' {
  const text: string;
  export default text;
}
