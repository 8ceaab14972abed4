/** The logic of the seed's sample generation: edit it and swap so/Handles.ts again. */
export function myFunction(i: number): void {
  console.log(`Adding to 10: ${10 + i}`);
}
