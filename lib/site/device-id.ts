/** The Cloud knows a scale as `<siteId>-<deviceId>` (SCALE-01 at PLANT7 is PLANT7-SCALE-01). */
export function globalDeviceId(siteId: string, deviceId: string): string {
  return `${siteId}-${deviceId}`;
}
