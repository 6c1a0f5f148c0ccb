/**
 * The local stand-in for source C: the Open-Meteo-shaped weather simulator on
 * WEATHER_SIM_PORT, managed while WEATHER_FORECAST_URL or WEATHER_ARCHIVE_URL points here.
 */
import { httpSimulatorService } from './http-simulator.ts';

export const weatherSimService = httpSimulatorService({
  name: 'weather',
  portEnv: 'WEATHER_SIM_PORT',
  port: (config) => config.weatherSimPort,
  urls: (config) => [config.weatherForecastUrl, config.weatherArchiveUrl],
  describe: (config) => `forecast ${config.weatherForecastUrl.href}, archive ${config.weatherArchiveUrl.href}`,
});
