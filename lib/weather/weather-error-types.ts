/**
 * Names (`WeatherApiError.type`, also its `name`) of the weather API errors that retrying
 * cannot heal: a request the API refuses (4xx other than 429) and an answer that is not
 * the Open-Meteo shape. Kept free of imports so workflow code can use it in retry policies.
 */
export const NON_RETRYABLE_WEATHER_ERRORS = ['WeatherApiBadRequest', 'WeatherApiBadResponse'];
